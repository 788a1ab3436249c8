module nightly/tools/forge

go 1.26.8

require (
	code.gitea.io/sdk/gitea v0.21.0
	github.com/google/go-github/v74 v74.0.0
)

require (
	github.com/42wim/httpsig v1.2.2 // indirect
	github.com/davidmz/go-pageant v1.0.2 // indirect
	github.com/go-fed/httpsig v1.1.0 // indirect
	github.com/google/go-querystring v1.1.0 // indirect
	github.com/hashicorp/go-version v1.7.0 // indirect
	golang.org/x/crypto v0.33.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
)

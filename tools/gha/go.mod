module nightly/tools/gha

go 1.26.8

require github.com/sethvargo/go-githubactions v1.4.0

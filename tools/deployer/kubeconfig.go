package main

import (
	"fmt"
	"net"
	"net/url"
	"os"

	"gopkg.in/yaml.v3"
)

// rewriteKubeconfig points every cluster whose server is on loopback (127.0.0.1, ::1, localhost)
// at alias instead, keeping the port: inside a container, the host's cluster is a Dagger service
// bound under alias. The API server's certificate must carry alias. Returns how many it changed.
func rewriteKubeconfig(data []byte, alias string) ([]byte, int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("not a kubeconfig: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, 0, fmt.Errorf("not a kubeconfig: no top-level mapping")
	}
	clusters := mapValue(doc.Content[0], "clusters")
	if clusters == nil || clusters.Kind != yaml.SequenceNode || len(clusters.Content) == 0 {
		return nil, 0, fmt.Errorf("not a kubeconfig: no clusters")
	}
	n := 0
	for _, c := range clusters.Content {
		server := mapValue(mapValue(c, "cluster"), "server")
		if server == nil {
			continue
		}
		u, err := url.Parse(server.Value)
		if err != nil {
			return nil, 0, fmt.Errorf("cluster server %q: %w", server.Value, err)
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); !(host == "localhost" || (ip != nil && ip.IsLoopback())) {
			continue
		}
		if port := u.Port(); port != "" {
			u.Host = net.JoinHostPort(alias, port)
		} else {
			u.Host = alias
		}
		server.Value = u.String()
		n++
	}
	out, err := yaml.Marshal(&doc)
	return out, n, err
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// prepareKubeconfig returns the kubeconfig path the provider should use: the given one, or a
// rewritten copy in scratch (a tmpfs: the kubeconfig is a secret) when alias is set.
func prepareKubeconfig(path, alias, scratch string) (string, error) {
	if alias == "" {
		return path, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	out, _, err := rewriteKubeconfig(data, alias)
	if err != nil {
		return "", err
	}
	p := scratch + "/kubeconfig"
	if err := os.WriteFile(p, out, 0o600); err != nil {
		return "", err
	}
	return p, nil
}

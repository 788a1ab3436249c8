package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinkPlugins(t *testing.T) {
	src, home := t.TempDir(), filepath.Join(t.TempDir(), "home")
	if err := os.WriteFile(filepath.Join(src, "resource-kubernetes-v4.32.0.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // a second call finds the link and keeps it
		if err := linkPlugins(src, home); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "plugins", "resource-kubernetes-v4.32.0.lock")); err != nil {
		t.Errorf("the plugins are not seen through PULUMI_HOME/plugins: %v", err)
	}
	if err := linkPlugins("", ""); err != nil {
		t.Errorf("no plugins folder: %v", err)
	}
	if err := linkPlugins(src, ""); err == nil {
		t.Error("no PULUMI_HOME: accepted")
	}
	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, "plugins"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := linkPlugins(src, other); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a real plugins folder in PULUMI_HOME: %v", err)
	}
}

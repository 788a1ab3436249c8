package main

import (
	"os"
	"testing"
)

func mustChart(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/Chart.yaml", []byte("apiVersion: v2\nname: c\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

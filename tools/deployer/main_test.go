package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
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

func TestFreshBackendRaceIsOnlyTheTableCreationRace(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{`exit status 1: error: unable to open state database "postgres://pulumi@state-db:47523/pulumi?sslmode=disable": failed to create table pulumi_state: pq: duplicate key value violates unique constraint "pg_type_typname_nsp_index" (23505)`, true},
		{`error: unable to open state database "postgres://…": pq: password authentication failed for user "pulumi"`, false},
		{`error: [409] Conflict: Another update is currently in progress.`, false},
		{`duplicate key value violates unique constraint "stacks_pkey"`, false},
	} {
		if got := freshBackendRace(errors.New(c.msg)); got != c.want {
			t.Errorf("freshBackendRace(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
	if freshBackendRace(nil) {
		t.Error("freshBackendRace(nil) = true")
	}
}

func TestOnFreshBackendRetriesTheRaceOnly(t *testing.T) {
	race := errors.New("failed to create table pulumi_state: pq: duplicate key value violates unique constraint \"pg_type_typname_nsp_index\"")
	calls := 0
	_, err := onFreshBackend(func() (auto.Stack, error) {
		calls++
		if calls == 1 {
			return auto.Stack{}, race
		}
		return auto.Stack{}, nil
	})
	if err != nil || calls != 2 {
		t.Errorf("after one race: err %v, %d calls; want nil, 2", err, calls)
	}
	calls = 0
	_, err = onFreshBackend(func() (auto.Stack, error) { calls++; return auto.Stack{}, race })
	if err == nil || calls != 3 {
		t.Errorf("a race that stays: err %v, %d calls; want the error after 3", err, calls)
	}
	calls = 0
	_, err = onFreshBackend(func() (auto.Stack, error) { calls++; return auto.Stack{}, errors.New("bad passphrase") })
	if err == nil || calls != 1 {
		t.Errorf("another error: %d calls, want 1 (no retry)", calls)
	}
}

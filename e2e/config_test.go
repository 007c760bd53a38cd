//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Both processes refuse bad configuration with a non-zero exit and one clear line.
func TestProcessesExitWithOneClearLineOnBadConfiguration(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	for _, pkg := range []string{"worker", "starter"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "../"+pkg)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	goodKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	deadDB := "postgres://postgres@127.0.0.1:1/fbchannel?sslmode=disable&connect_timeout=2"
	cases := []struct {
		process string
		env     []string
		want    string
	}{
		{"worker", []string{"SECRETS_KEY=" + goodKey, "DATABASE_URL=" + deadDB}, "database"},
		{"starter", []string{"SECRETS_KEY=" + goodKey, "ADMIN_TOKEN=x", "DATABASE_URL=" + deadDB}, "database"},
		{"worker", []string{"SECRETS_KEY=not-base64!"}, "SECRETS_KEY"},
		{"starter", []string{"SECRETS_KEY=" + base64.StdEncoding.EncodeToString([]byte("short")), "ADMIN_TOKEN=x"}, "SECRETS_KEY"},
		{"worker", nil, "SECRETS_KEY"},
		{"starter", []string{"SECRETS_KEY=" + goodKey}, "ADMIN_TOKEN"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(dir, c.process))
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=127.0.0.1:0"}, c.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if err == nil || cmd.ProcessState.ExitCode() == 0 {
			t.Errorf("%s %v: exited 0", c.process, c.env)
			continue
		}
		if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s %v: stderr %q, want one line mentioning %s", c.process, c.env, stderr.String(), c.want)
		}
		for _, e := range c.env {
			if v, _ := strings.CutPrefix(e, "SECRETS_KEY="); v == goodKey && strings.Contains(stderr.String(), goodKey) {
				t.Errorf("%s printed the secrets key", c.process)
			}
		}
	}
}

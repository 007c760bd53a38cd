package supervise

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sleeper(t *testing.T) *Process {
	t.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	dir := t.TempDir()
	return &Process{
		Name: "sleeper", Path: path, Args: []string{"30"},
		LogPath: filepath.Join(dir, "sleeper.log"), PIDFile: filepath.Join(dir, "sleeper.pid"),
	}
}

// A program runs in its own session, is ready, and an orderly stop ends it,
// marks the exit as expected and removes its pid file.
func TestProcessStartsReadyAndStops(t *testing.T) {
	p := sleeper(t)
	p.Ready = func(context.Context) error { return nil }
	if err := p.Restart(context.Background(), "test", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Alive() || p.PID() == 0 || p.Starts() != 1 || p.ExitExpected() {
		t.Fatalf("alive %v pid %d starts %d expected %v", p.Alive(), p.PID(), p.Starts(), p.ExitExpected())
	}
	if pgid, err := syscall.Getpgid(p.PID()); err != nil || pgid != p.PID() {
		t.Fatalf("not leading its own session: process group %d %v", pgid, err)
	}
	raw, _ := os.ReadFile(p.PIDFile)
	if strings.TrimSpace(string(raw)) != strconv.Itoa(p.PID()) {
		t.Fatalf("pid file %q, pid %d", raw, p.PID())
	}
	if log, _ := os.ReadFile(p.LogPath); !strings.Contains(string(log), "=== starting sleeper (test)") {
		t.Fatalf("log %q", log)
	}
	p.Stop(5 * time.Second)
	if p.Alive() || !p.ExitExpected() {
		t.Fatalf("after stop: alive %v expected %v", p.Alive(), p.ExitExpected())
	}
	if _, err := os.Stat(p.PIDFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file left: %v", err)
	}
}

// A program that exits while starting is reported at once, not after the bound.
func TestWaitReadyFailsWhenTheProgramExits(t *testing.T) {
	p := sleeper(t)
	p.Args = []string{"0"}
	p.Ready = func(context.Context) error { return errors.New("not yet") }
	if err := p.Start("test"); err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	err := p.WaitReady(context.Background(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") {
		t.Fatalf("err %v", err)
	}
	if p.ExitExpected() {
		t.Fatal("an exit nobody caused counts as expected")
	}
}

// StopPIDFile stops what a killed supervisor left behind, and leaves alone a
// pid that now runs another program.
func TestStopPIDFileStopsOnlyTheProgramItNames(t *testing.T) {
	p := sleeper(t)
	if err := p.Start("test"); err != nil {
		t.Fatal(err)
	}
	// As make stop finds them: running their program. Right after Start the
	// child's /proc entry can still show the test binary (about 1 run in 25
	// under go test -count=200 failed here before this wait).
	for deadline := time.Now().Add(5 * time.Second); !Runs(p.PID(), p.Path); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the program never ran")
		}
	}
	other := filepath.Join(t.TempDir(), "other.pid")
	_ = os.WriteFile(other, []byte(strconv.Itoa(p.PID())), 0o644)
	if StopPIDFile(other, "/not/the/program", time.Second) || !p.Alive() {
		t.Fatal("stopped a process running another program")
	}
	if !StopPIDFile(p.PIDFile, p.Path, 5*time.Second) {
		t.Fatal("did not find the program")
	}
	select {
	case <-p.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("still running")
	}
}

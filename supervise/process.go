// Package supervise runs the channel's programs as separate processes and looks
// after them: start in a session of its own, readiness checks, logs, orderly and
// violent stops, restarts. `make run` (cmd/devstack) and the soak (cmd/soak) both
// use it; production runs its processes under its own orchestrator instead.
package supervise

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one program, started in its own session (so a Ctrl-C reaches only
// its supervisor, which then stops everything in order) and logging to LogPath,
// appended across restarts.
type Process struct {
	Name    string
	Path    string
	Args    []string
	Env     []string // nil: the supervisor's environment
	LogPath string
	// PIDFile, when set, holds the running process's pid, so a supervisor that
	// was killed can have its programs stopped later (StopPIDFile).
	PIDFile string
	// Ready answers nil once the program serves.
	Ready func(ctx context.Context) error
	// Logf reports what the supervisor does to the program (nil: nothing).
	Logf func(format string, args ...any)

	// Op is held by whoever kills or restarts the program (a fault injector, a
	// supervisor restarting it), so they never do it at the same time.
	Op sync.Mutex

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // an exit now is one the supervisor caused
	starts   int
}

func (p *Process) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

// Start starts the program; why is written into its log.
func (p *Process) Start(why string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n=== starting %s (%s) at %s\n", p.Name, why, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done, p.expected = cmd, done, false
	p.starts++
	if p.PIDFile != "" {
		_ = os.WriteFile(p.PIDFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	}
	return nil
}

// Alive says whether the program runs.
func (p *Process) Alive() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Exited is closed when the running program exits; nil before the first Start.
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// PID is the running (or last) program's pid, 0 before the first Start.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Starts counts the starts so far.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// ExpectExit marks the next exit as one the supervisor causes.
func (p *Process) ExpectExit() {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
}

// ExitExpected says whether the last exit (or the coming one) was caused by the
// supervisor.
func (p *Process) ExitExpected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expected
}

// Signal sends sig to the program's process group and waits up to wait for the
// exit, which it marks as expected; false when the program still runs.
func (p *Process) Signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.mu.Unlock()
	if cmd == nil || done == nil {
		return true
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// Kill is a crash: SIGKILL, no goodbye.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL, 10*time.Second)
}

// Stop is the orderly shutdown: SIGTERM, then SIGKILL after bound.
func (p *Process) Stop(bound time.Duration) {
	if p.Alive() {
		if !p.Signal(syscall.SIGTERM, bound) {
			p.logf("%s did not stop within %s; killing it", p.Name, bound)
			p.Signal(syscall.SIGKILL, 10*time.Second)
		}
	}
	if p.PIDFile != "" {
		_ = os.Remove(p.PIDFile)
	}
}

// WaitReady polls Ready until it passes, failing early if the program exits.
func (p *Process) WaitReady(ctx context.Context, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	var last error
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return fmt.Errorf("%s exited during start-up; see %s", p.Name, p.LogPath)
		}
		if p.Ready == nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = p.Ready(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s: %v (log %s)", p.Name, bound, last, p.LogPath)
}

// Restart starts the program and waits until it is ready; up to three attempts
// cover a start that races a dependency (the worker's migrations while Postgres
// comes up, say).
func (p *Process) Restart(ctx context.Context, why string, bound time.Duration) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = p.Start(why); err != nil {
			return err
		}
		if err = p.WaitReady(ctx, bound); err == nil {
			return nil
		}
		p.logf("%s: %v (attempt %d)", p.Name, err, attempt)
		p.Stop(10 * time.Second)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(2 * time.Second)
	}
	return err
}

// StopAll stops the programs in reverse order (the last started first).
func StopAll(bound time.Duration, ps ...*Process) {
	for i := len(ps) - 1; i >= 0; i-- {
		if p := ps[i]; p != nil && p.Alive() {
			p.logf("stopping %s (pid %d)", p.Name, p.PID())
			p.Stop(bound)
		}
	}
}

// HTTPReady is a readiness check: GET url answers 200.
func HTTPReady(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return nil
	}
}

// PortFree says whether nothing answers on 127.0.0.1:port.
func PortFree(port int) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return nil // nothing answers there
	}
	c.Close()
	return fmt.Errorf("port %d is in use (ss -ltnp 'sport = :%d'); stop what holds it or choose another port", port, port)
}

// TailFile is the last n lines of a log, indented, for an error report.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

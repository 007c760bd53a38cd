package apptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"fbchannel/supervise"
)

// Processes says how StartProcesses runs a stack's worker and starter: as the
// built programs (./bin/worker, ./bin/starter), several of each, the starters
// behind one round-robin proxy, the way a team deploys them.
type Processes struct {
	// Bin holds the worker and starter programs (default ModuleBin()).
	Bin string
	// Workers and Starters default to one each.
	Workers, Starters int
	// TemporalAddress (host:port) and Namespace (default Namespace) are the
	// Temporal server the programs use.
	TemporalAddress, Namespace string
	// LogDir receives <name>.log per program (default: a new temporary directory).
	LogDir string
	// Env is added to every program's environment (after the stack's own).
	Env []string
}

// processReady bounds one program's start (migrations, search attributes).
const processReady = 90 * time.Second

// StartProcesses runs the stack's worker and starter as separate programs
// instead of Start's in-process ones: API and APIURL are then the proxy in
// front of the starters. The processes stop at Close, before the database goes.
func (s *Stack) StartProcesses(ctx context.Context, p Processes) error {
	if p.TemporalAddress == "" {
		return errors.New("apptest: Processes.TemporalAddress is required")
	}
	if p.Bin == "" {
		p.Bin = ModuleBin()
	}
	p.Workers, p.Starters = max(p.Workers, 1), max(p.Starters, 1)
	if p.Namespace == "" {
		p.Namespace = Namespace
	}
	for _, name := range []string{"worker", "starter"} {
		if _, err := os.Stat(filepath.Join(p.Bin, name)); err != nil {
			return fmt.Errorf("apptest: %s is not built in %s (scripts/dev.sh build): %w", name, p.Bin, err)
		}
	}
	if p.LogDir == "" {
		dir, err := os.MkdirTemp("", "fbchannel-processes-")
		if err != nil {
			return err
		}
		p.LogDir = dir
	}
	s.LogDir = p.LogDir
	ports, err := freePorts(p.Workers + p.Starters)
	if err != nil {
		return err
	}
	var backends []string
	for _, port := range ports[p.Workers:] {
		backends = append(backends, fmt.Sprintf("127.0.0.1:%d", port))
	}
	s.API = httptest.NewServer(supervise.ProxyHandler(backends))
	s.APIURL = s.API.URL
	s.stops = append(s.stops, s.API.Close)

	env := append(os.Environ(),
		"DATABASE_URL="+s.DatabaseURL,
		"TEMPORAL_ADDRESS="+p.TemporalAddress,
		"TEMPORAL_NAMESPACE="+p.Namespace,
		"TEMPORAL_TASK_QUEUE="+s.TaskQueue,
		"GRAPH_API_URL="+s.SimURL,
		"GRAPH_API_VERSION="+s.Worker.GraphAPIVersion,
		"SECRETS_KEY="+s.SecretsKey,
		"ADMIN_TOKEN="+s.AdminToken,
		"PUBLIC_BASE_URL="+s.APIURL,
		fmt.Sprintf("WEBHOOK_MAX_BYTES=%d", s.Starter.WebhookMaxBytes),
	)
	s.processes = processes{bin: p.Bin, logDir: p.LogDir, env: append(env, p.Env...)}
	s.stops = append(s.stops, func() { stopParallel(s.programs()) })
	var starts []*supervise.Process
	for i := range p.Workers {
		starts = append(starts, s.workerProcess(ports[i]))
	}
	for i, addr := range backends {
		s.StarterURLs = append(s.StarterURLs, "http://"+addr)
		s.Starters = append(s.Starters, s.processes.program(fmt.Sprintf("starter%d", i+1), "starter", "HTTP_ADDR="+addr, "http://"+addr+"/readyz"))
		starts = append(starts, s.Starters[i])
	}
	// The programs start together: each waits only for Postgres and Temporal.
	errs := make([]error, len(starts))
	var wg sync.WaitGroup
	for i, proc := range starts {
		wg.Go(func() { errs[i] = proc.Restart(ctx, "apptest", processReady) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// processes is how StartProcesses runs the programs, kept for StartWorkerProcess.
type processes struct {
	bin, logDir string
	env         []string
}

func (ps processes) program(name, bin, addr, ready string, env ...string) *supervise.Process {
	return &supervise.Process{
		Name: name, Path: filepath.Join(ps.bin, bin), Env: append(append(append([]string(nil), ps.env...), addr), env...),
		LogPath: filepath.Join(ps.logDir, name+".log"), Ready: supervise.HTTPReady(ready),
	}
}

// workerProcess adds a worker program (not started) serving ops at port.
func (s *Stack) workerProcess(port int, env ...string) *supervise.Process {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	w := s.processes.program(fmt.Sprintf("worker%d", len(s.Workers)+1), "worker", "OPS_ADDR="+addr, "http://"+addr+"/readyz", env...)
	s.Workers = append(s.Workers, w)
	s.WorkerOpsURLs = append(s.WorkerOpsURLs, "http://"+addr)
	return w
}

// StartWorkerProcess runs one more worker program next to StartProcesses's, with
// env added to theirs (another WORKER_BUILD_ID: a new build deployed).
func (s *Stack) StartWorkerProcess(ctx context.Context, env ...string) (*supervise.Process, error) {
	if s.processes.bin == "" {
		return nil, errors.New("apptest: StartWorkerProcess before StartProcesses")
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	w := s.workerProcess(ports[0], env...)
	return w, w.Restart(ctx, "apptest", processReady)
}

// programs are the worker and starter programs, workers first.
func (s *Stack) programs() []*supervise.Process {
	return append(append([]*supervise.Process(nil), s.Workers...), s.Starters...)
}

// ProcessLogs is the end of each program's log, for a failed test's report.
func (s *Stack) ProcessLogs(lines int) string {
	var b strings.Builder
	for _, p := range s.programs() {
		fmt.Fprintf(&b, "--- %s (%s):\n%s\n", p.Name, p.LogPath, supervise.TailFile(p.LogPath, lines))
	}
	return b.String()
}

// stopParallel stops the programs at once (SIGTERM; SIGKILL after 10 s): a
// worker's stop waits for its pollers, and four in a row would add up.
func stopParallel(ps []*supervise.Process) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(10 * time.Second) }()
	}
	wg.Wait()
}

// freePorts are n ports nothing listens on now (the kernel's choice).
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

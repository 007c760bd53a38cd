package supervise

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StopPIDFile stops the process whose pid the file holds — a program a killed
// supervisor left behind — if it still runs path (so a reused pid is left
// alone): SIGTERM to its process group, SIGKILL after bound. It removes the file
// and says whether it found the process.
func StopPIDFile(pidFile, path string, bound time.Duration) bool {
	defer os.Remove(pidFile)
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 || !Runs(pid, path) {
		return false
	}
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if !Runs(pid, path) {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return true
}

// Runs says whether pid is a live process (not a zombie) running the program
// at path.
func Runs(pid int, path string) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	exe, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(exe) == path
}

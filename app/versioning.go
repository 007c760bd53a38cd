package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// VersioningConfig is the worker's Worker Deployment Versioning (README "Rolling
// out a new build"); it extends CONTRACT.md.
type VersioningConfig struct {
	// Versioning registers the worker as a version of a Worker Deployment: off by
	// default, because a versioned worker takes tasks only once its build is the
	// deployment's current (or ramping) version, which a developer rebuilding
	// under `make run` would have to set at every commit. On for a cluster.
	Versioning bool `env:"WORKER_VERSIONING" envDefault:"false"`
	// DeploymentName defaults to the task queue's name.
	DeploymentName string `env:"WORKER_DEPLOYMENT_NAME"`
	// BuildID defaults to the build's own identity (BuildID).
	BuildID string `env:"WORKER_BUILD_ID"`
}

// DeploymentOptions are the worker options of the configuration; the zero value
// when versioning is off. No default behavior: each workflow declares its own
// (workflows.Register), so a new one cannot slip in with an unconsidered one.
func (v VersioningConfig) DeploymentOptions(taskQueue string) (worker.DeploymentOptions, error) {
	if !v.Versioning {
		return worker.DeploymentOptions{}, nil
	}
	name, build := v.DeploymentName, v.BuildID
	if name == "" {
		name = taskQueue
	}
	if build == "" {
		var err error
		if build, err = BuildID(); err != nil {
			return worker.DeploymentOptions{}, fmt.Errorf("configuration: WORKER_VERSIONING=true without WORKER_BUILD_ID: %w", err)
		}
	}
	return worker.DeploymentOptions{
		UseVersioning: true,
		Version:       worker.WorkerDeploymentVersion{DeploymentName: name, BuildID: build},
	}, nil
}

// BuildID identifies the running build: the VCS revision it was built from (12
// hex digits, "-dirty" when the tree had changes), or, when the binary carries
// none (-buildvcs=false, as the Dockerfile and this machine's GOFLAGS build),
// "sha256-" and the first 12 hex digits of the executable's own hash: the same
// binary gives the same id on every machine, any change another one.
func BuildID() (string, error) {
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev string
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			rev = rev[:min(len(rev), 12)]
			if dirty {
				rev += "-dirty"
			}
			return rev, nil
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// becomeCurrentIfNone makes the worker's version the deployment's current one
// when the deployment has none yet (its first versioned build), so a fresh
// cluster takes tasks without an operator step; later builds wait for the
// rollout (set-current-version). It retries until the server knows the version,
// which is once it has seen this worker poll, and gives up when ctx ends.
func becomeCurrentIfNone(ctx context.Context, c client.Client, v worker.WorkerDeploymentVersion, log *slog.Logger) {
	h := c.WorkerDeploymentClient().GetHandle(v.DeploymentName)
	var last error
	for attempt := 1; ; attempt++ {
		d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		if err == nil {
			if cur := d.Info.RoutingConfig.CurrentVersion; cur != nil {
				if cur.BuildID != v.BuildID {
					log.Info("worker deployment: this build is not the current version; it takes tasks once rolled out",
						"deployment", v.DeploymentName, "build_id", v.BuildID, "current", cur.BuildID)
				}
				return
			}
			// The conflict token loses to a worker of another build doing the same.
			_, err = h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: v.BuildID, ConflictToken: d.ConflictToken})
			if err == nil {
				log.Info("worker deployment had no current version: this build is now current", "deployment", v.DeploymentName, "build_id", v.BuildID)
				return
			}
		}
		last = err
		if attempt%30 == 0 {
			log.Warn("worker deployment: cannot make this build current yet", "deployment", v.DeploymentName, "build_id", v.BuildID, "err", last)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

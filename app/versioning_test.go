package app

import (
	"strings"
	"testing"
)

// Without WORKER_BUILD_ID a versioned worker is the version of its own build,
// in the deployment named after its task queue; unversioned, it asks for nothing.
func TestDeploymentOptionsDefaultToTheBuildAndTheTaskQueue(t *testing.T) {
	off, err := VersioningConfig{}.DeploymentOptions("facebook-channel")
	if err != nil || off.UseVersioning {
		t.Fatalf("versioning off: %+v %v", off, err)
	}
	on, err := VersioningConfig{Versioning: true}.DeploymentOptions("facebook-channel")
	if err != nil {
		t.Fatal(err)
	}
	build, _ := BuildID()
	if !on.UseVersioning || on.Version.DeploymentName != "facebook-channel" || on.Version.BuildID != build || build == "" {
		t.Fatalf("versioning on: %+v, want deployment facebook-channel, build %q", on, build)
	}
	if !strings.HasPrefix(build, "sha256-") && len(strings.TrimSuffix(build, "-dirty")) != 12 {
		t.Fatalf("build id %q is neither a revision nor a binary hash", build)
	}
	set, _ := VersioningConfig{Versioning: true, DeploymentName: "fb", BuildID: "2026-12-03.1"}.DeploymentOptions("facebook-channel")
	if set.Version.DeploymentName != "fb" || set.Version.BuildID != "2026-12-03.1" {
		t.Fatalf("configured: %+v", set.Version)
	}
}

package templates

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// cfnLint returns the cfn-lint command, or skips the test when it is not installed; in CI
// (CI=true) a missing cfn-lint fails instead, so the check cannot silently vanish.
func cfnLint(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cfn-lint is required in CI: %v", err)
		}
		t.Skipf("cfn-lint not installed: %v", err)
	}
	return path
}

func runCfnLint(t *testing.T, bin string, templates ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, bin, templates...).CombinedOutput()
}

// Both templates pass cfn-lint (the SAM transform included), warnings too.
func TestTemplatesPassCfnLint(t *testing.T) {
	bin := cfnLint(t)
	if out, err := runCfnLint(t, bin, hubPath, memberPath); err != nil {
		t.Errorf("cfn-lint %s %s: %v\n%s", hubPath, memberPath, err, out)
	}
}

// The check is only worth something if cfn-lint reports a broken template as a failure.
func TestCfnLintFailsABrokenTemplate(t *testing.T) {
	bin := cfnLint(t)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	body := "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      NotAProperty: 1\n"
	if err := os.WriteFile(broken, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCfnLint(t, bin, broken)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Errorf("cfn-lint on a broken template: err = %v, want a non-zero exit\n%s", err, out)
	}
}

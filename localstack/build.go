package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// The Runtime Interface Emulator is fetched and built by the Go toolchain
// from the module proxy (`go install module/cmd@version`), so go.mod does
// not carry it and nothing is downloaded by hand. v1.23.0 is not served by
// the proxy this project uses; this pseudo-version is.
const (
	EmulatorModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	EmulatorVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// CacheDir is where the emulator binary and the built functions are kept
// between runs: $XDG_CACHE_HOME/jenkins-agent-vpcs (~/.cache/...).
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory, %w", err)
	}
	return filepath.Join(dir, "jenkins-agent-vpcs"), nil
}

var emulatorMu sync.Mutex

// Emulator returns the path of the aws-lambda-rie binary in cacheDir,
// building it first when it is not there.
func Emulator(ctx context.Context, cacheDir string) (_ string, err error) {
	emulatorMu.Lock()
	defer emulatorMu.Unlock()
	dir := filepath.Join(cacheDir, "rie-"+EmulatorVersion)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Build into a private directory and rename, so that two runs racing
	// (make local beside go test) never execute a half-written binary.
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache directory, %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, "rie-build-")
	if err != nil {
		return "", fmt.Errorf("creating build directory, %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing build directory, %w", rerr)
		}
	}()
	cmd := exec.CommandContext(ctx, "go", "install", EmulatorModule+"/cmd/aws-lambda-rie@"+EmulatorVersion)
	// Outside any module, so the project's go.mod is neither read nor changed.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GO111MODULE=on")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the Runtime Interface Emulator (go install %s@%s), %w\n%s", EmulatorModule, EmulatorVersion, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s, %w", dir, err)
	}
	if err := os.Rename(filepath.Join(tmp, "aws-lambda-rie"), bin); err != nil {
		return "", fmt.Errorf("installing the emulator binary, %w", err)
	}
	return bin, nil
}

// Build builds each function as `sam build` would: `make build-<LogicalId>`
// at the repository root with ARTIFACTS_DIR set, for the host's
// architecture. It returns each function's bootstrap path. A function the
// template names but the repository cannot build fails with make's output.
func Build(ctx context.Context, repoRoot, outDir string, logicalIDs []string) (map[string]string, error) {
	type result struct {
		id, path string
		err      error
	}
	results := make(chan result, len(logicalIDs))
	var wg sync.WaitGroup
	for _, id := range logicalIDs {
		wg.Go(func() {
			artifacts := filepath.Join(outDir, id)
			cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR="+artifacts, "GOARCH="+runtime.GOARCH)
			cmd.Dir = repoRoot
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				hint := ""
				if _, statErr := os.Stat(filepath.Join(repoRoot, FunctionDir(id))); errors.Is(statErr, os.ErrNotExist) {
					hint = fmt.Sprintf(" (template.yaml names %s but %s does not exist)", id, FunctionDir(id))
				}
				results <- result{id: id, err: fmt.Errorf("building %s with make build-%s%s, %w\n%s", id, id, hint, err, strings.TrimSpace(out.String()))}
				return
			}
			results <- result{id: id, path: filepath.Join(artifacts, "bootstrap")}
		})
	}
	wg.Wait()
	close(results)
	paths := map[string]string{}
	var errs []error
	for r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		paths[r.id] = r.path
	}
	return paths, errors.Join(errs...)
}

// FunctionDir is the source directory of a function by the repository's
// convention: OnboardFunction -> functions/onboard.
func FunctionDir(logicalID string) string {
	return filepath.Join("functions", strings.ToLower(strings.TrimSuffix(logicalID, "Function")))
}

// RepoRoot finds the repository root (the directory holding go.mod and
// template.yaml) from dir upwards.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "template.yaml")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no repository root (go.mod and template.yaml) above %s", dir)
		}
	}
}

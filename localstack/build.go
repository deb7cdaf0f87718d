package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
// building it first when it is not there (and saying so on progress, if
// not nil: the first build takes a while).
func Emulator(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	return emulator(ctx, cacheDir, newProgress(progress, progressEvery))
}

func emulator(ctx context.Context, cacheDir string, prog *progress) (_ string, err error) {
	emulatorMu.Lock()
	defer emulatorMu.Unlock()
	dir := filepath.Join(cacheDir, "rie-"+EmulatorVersion)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	done := prog.start("building the Runtime Interface Emulator", "(go install "+EmulatorModule+"/cmd/aws-lambda-rie, once: kept in "+dir+")")
	defer func() { done(err) }()
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
	// With the functions' and bin/localstack's CGO_ENABLED, -trimpath and
	// -gcflags (Makefile's GO_FLAGS), so the standard library it shares
	// with them (net/http, crypto/tls) comes from the build cache instead
	// of compiling again.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod -trimpath -gcflags=all=-l", "CGO_ENABLED=0", "GO111MODULE=on")
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
// What it builds, and for how long, goes to progress if not nil.
//
// The first function is built alone and the others then together: the
// functions share most of their packages (the SDK's EC2 package above
// all), and builds started together would each compile them, where one
// after the first finds them in the Go build cache.
func Build(ctx context.Context, repoRoot, outDir string, logicalIDs []string, progress io.Writer) (map[string]string, error) {
	return build(ctx, repoRoot, outDir, logicalIDs, newProgress(progress, progressEvery))
}

func build(ctx context.Context, repoRoot, outDir string, logicalIDs []string, prog *progress) (map[string]string, error) {
	paths := map[string]string{}
	if len(logicalIDs) == 0 {
		return paths, nil
	}
	first, err := buildFunction(ctx, repoRoot, outDir, logicalIDs[0], prog)
	if err != nil {
		return nil, err
	}
	paths[logicalIDs[0]] = first
	type result struct {
		id, path string
		err      error
	}
	rest := logicalIDs[1:]
	results := make(chan result, len(rest))
	var wg sync.WaitGroup
	for _, id := range rest {
		wg.Go(func() {
			path, err := buildFunction(ctx, repoRoot, outDir, id, prog)
			results <- result{id: id, path: path, err: err}
		})
	}
	wg.Wait()
	close(results)
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

// buildFunction runs make build-<id> with ARTIFACTS_DIR outDir/<id>.
func buildFunction(ctx context.Context, repoRoot, outDir, id string, prog *progress) (_ string, err error) {
	done := prog.start("building "+id, "(make build-"+id+")")
	defer func() { done(err) }()
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
		return "", fmt.Errorf("building %s with make build-%s%s, %w\n%s", id, id, hint, err, strings.TrimSpace(out.String()))
	}
	return filepath.Join(artifacts, "bootstrap"), nil
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

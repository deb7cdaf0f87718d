package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoFunction builds testdata/echo and finds (or builds) the emulator.
func echoFunction(t *testing.T) (emulator, bootstrap string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the Runtime Interface Emulator and a function")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if emulator, err = Emulator(ctx, cache, nil); err != nil {
		t.Fatal(err)
	}
	bootstrap = filepath.Join(t.TempDir(), "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-o", bootstrap, "./testdata/echo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/echo: %v\n%s", err, out)
	}
	return emulator, bootstrap
}

// stranger is another process's server on a loopback port: it answers
// every request, as an emulator of another test run would.
func stranger(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"function":"stranger"}`)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func echoEnv(function string) []string {
	return []string{"AWS_LAMBDA_FUNCTION_NAME=" + function, "AWS_REGION=eu-west-1", "HOME=/"}
}

// invokeEcho invokes an instance and checks that the answer is its own.
func invokeEcho(t *testing.T, in *Instance, function string) {
	t.Helper()
	res, err := in.Invoke(context.Background(), []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Function string
		Payload  json.RawMessage
	}
	if err := json.Unmarshal(res.Payload, &got); err != nil || got.Function != function || string(got.Payload) != `{"n":1}` {
		t.Fatalf("instance of %s answered %s (%v), want its own echo", function, res.Payload, err)
	}
}

// TestStartInstanceLosesAPort: a port found free and taken by another
// process before the emulator binds it (here a server answering every
// request) costs a new start on new ports, and the instance that starts
// is the function's, not the stranger.
func TestStartInstanceLosesAPort(t *testing.T) {
	emulator, bootstrap := echoFunction(t)
	for _, tc := range []struct {
		name  string
		taken int // index of the port handed out taken: 0 invocations, 1 Runtime API
	}{
		{"invocation port", 0},
		{"Runtime API port", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := stranger(t)
			var picks int
			pickPorts = func(n int) ([]int, error) {
				picks++
				ports, err := freePorts(n)
				if err == nil && picks == 1 {
					ports[tc.taken] = taken
				}
				return ports, err
			}
			t.Cleanup(func() { pickPorts = freePorts })
			in, err := StartInstance(context.Background(), emulator, bootstrap, "echo", echoEnv("echo"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = in.Stop() }()
			if picks != 2 {
				t.Errorf("ports picked %d times, want 2 (the first start lost port %d)", picks, taken)
			}
			if strings.Contains(in.URL, ":"+strconv.Itoa(taken)+"/") {
				t.Errorf("instance URL %s is the stranger's port", in.URL)
			}
			invokeEcho(t, in, "echo")
		})
	}
}

// TestStartInstanceKeepsLosing: starts that keep losing their port end
// with an error that says so, after a bounded number of attempts.
func TestStartInstanceKeepsLosing(t *testing.T) {
	emulator, bootstrap := echoFunction(t)
	taken := stranger(t)
	var picks int
	pickPorts = func(n int) ([]int, error) {
		picks++
		ports, err := freePorts(n)
		if err == nil {
			ports[0] = taken
		}
		return ports, err
	}
	t.Cleanup(func() { pickPorts = freePorts })
	in, err := StartInstance(context.Background(), emulator, bootstrap, "echo", echoEnv("echo"), io.Discard)
	if err == nil {
		_ = in.Stop()
		t.Fatal("started on a taken port")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("lost its ports %d times", maxPortAttempts)) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q, want one saying the ports were lost %d times", err, maxPortAttempts)
	}
	if picks != maxPortAttempts {
		t.Errorf("ports picked %d times, want %d", picks, maxPortAttempts)
	}
}

// TestStartInstancesAtOnce: instances started together (as two stacks
// starting at once do) each answer as their own function.
func TestStartInstancesAtOnce(t *testing.T) {
	emulator, bootstrap := echoFunction(t)
	var wg sync.WaitGroup
	for i := range 8 {
		fn := "echo-" + strconv.Itoa(i)
		wg.Go(func() {
			in, err := StartInstance(context.Background(), emulator, bootstrap, fn, echoEnv(fn), io.Discard)
			if err != nil {
				t.Error(err)
				return
			}
			defer func() { _ = in.Stop() }()
			invokeEcho(t, in, fn)
		})
	}
	wg.Wait()
}

// TestListeningPorts: a process's listening ports are found, another
// process's are not.
func TestListeningPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	port := l.Addr().(*net.TCPAddr).Port
	mine, err := listeningPorts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !mine[port] {
		t.Errorf("port %d this process listens on not found among %v", port, mine)
	}
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait() }()
	theirs, err := listeningPorts(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if theirs[port] {
		t.Errorf("port %d found among another process's (%v)", port, theirs)
	}
}

// TestStartInstanceOutlivesItsLog: the caller may close the log it gave
// once the instance started (the local stack does); the emulator keeps
// running and its later output still reaches the file.
func TestStartInstanceOutlivesItsLog(t *testing.T) {
	emulator, bootstrap := echoFunction(t)
	path := filepath.Join(t.TempDir(), "echo.log")
	log, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := StartInstance(context.Background(), emulator, bootstrap, "echo", echoEnv("echo"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Stop() }()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	invokeEcho(t, in, "echo") // the emulator logs every invocation
	invokeEcho(t, in, "echo")
	_ = in.Stop()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) <= len(before) || strings.Count(string(after[len(before):]), "END RequestId") != 2 {
		t.Errorf("log after the log was closed %q, want the emulator's lines of both invocations", after[len(before):])
	}
}

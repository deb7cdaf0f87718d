package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// invocationPath is the emulator's Invoke API (the one Lambda's Invoke uses).
const invocationPath = "/2015-03-31/functions/function/invocations"

// Instance is one execution environment: an aws-lambda-rie process running
// one function's bootstrap, with its own runtime API and invoke addresses.
// It takes one invocation at a time, as a Lambda execution environment does.
type Instance struct {
	Function string
	URL      string // the invoke endpoint

	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	exit    error // how the process ended, set before done is closed
	client  *http.Client

	mu        sync.Mutex
	coldStart time.Duration // process start to first invocation answered
}

// Result is a function's answer to one invocation.
type Result struct {
	Payload []byte
	// Error is set when the function returned an error (Lambda's
	// X-Amz-Function-Error): errorType and errorMessage of its payload.
	Error    *FunctionError
	Duration time.Duration
}

// FunctionError is an error the function itself returned.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// StartInstance starts the emulator for one function's bootstrap with
// exactly env as the function's environment (nothing of this process's
// environment leaks in). Output of the emulator and the function goes to log.
// The process and its children get their own process group, so Stop ends
// them all; they are also killed if this process dies.
//
// The emulator takes its two addresses (invocations, Runtime API) on its
// command line and cannot be handed a listener, so its ports are found free
// and released before it binds them: another process may take one in
// between (a second copy of the test suite, any outgoing connection). An
// emulator that lost a port exits saying so and is started again on new
// ports; one is ready only when it is the process listening on both, so a
// stranger that took a port is never mistaken for it.
func StartInstance(ctx context.Context, emulator, bootstrap, function string, env []string, log io.Writer) (*Instance, error) {
	var lost []string
	for range maxPortAttempts {
		ports, err := pickPorts(2)
		if err != nil {
			return nil, err
		}
		in, err := startInstance(ctx, emulator, bootstrap, function, env, log, ports[0], ports[1])
		var lp *lostPortError
		if !errors.As(err, &lp) {
			return in, err
		}
		lost = append(lost, lp.Error())
	}
	return nil, fmt.Errorf("starting the emulator for %s: lost its ports %d times: %s", function, maxPortAttempts, strings.Join(lost, "; "))
}

// maxPortAttempts bounds the starts of one instance that lose a port.
const maxPortAttempts = 5

// pickPorts finds free ports for an emulator; a variable for the test that
// hands out taken ones.
var pickPorts = freePorts

// lostPortError is an emulator that could not bind a port it was given.
type lostPortError struct {
	function string
	ports    [2]int
	output   string
}

func (e *lostPortError) Error() string {
	return fmt.Sprintf("the emulator for %s could not listen on ports %d and %d: %s", e.function, e.ports[0], e.ports[1], e.output)
}

func startInstance(ctx context.Context, emulator, bootstrap, function string, env []string, log io.Writer, invokePort, runtimePort int) (*Instance, error) {
	invokeAddr := "127.0.0.1:" + strconv.Itoa(invokePort)
	runtimeAddr := "127.0.0.1:" + strconv.Itoa(runtimePort)
	cmd := exec.Command(emulator,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	cmd.Env = env
	// The start's output is kept as well, to tell a lost port from a
	// broken emulator or bootstrap, so the output reaches log through a
	// pipe. The caller may close log once the instance started (the
	// emulator writes for as long as it runs): a file is written through a
	// duplicate of its own, closed when the process ends.
	own, err := ownWriter(log)
	if err != nil {
		return nil, fmt.Errorf("starting the emulator for %s, %w", function, err)
	}
	startOut := &startOutput{}
	out := io.MultiWriter(own, startOut)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in := &Instance{Function: function, URL: "http://" + invokeAddr + invocationPath, cmd: cmd, done: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: false, MaxIdleConnsPerHost: 1}}}
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = own.Close()
		return nil, fmt.Errorf("starting the emulator for %s, %w", function, err)
	}
	go func() { in.exit = cmd.Wait(); _ = own.Close(); close(in.done) }()
	err = in.waitListening(ctx, []int{invokePort, runtimePort}, 15*time.Second)
	if err != nil {
		_ = in.Stop()
		startOut.stop()
		if text := startOut.String(); strings.Contains(text, "address already in use") {
			return nil, &lostPortError{function: function, ports: [2]int{invokePort, runtimePort}, output: lineWith(text, "address already in use")}
		}
		return nil, err
	}
	startOut.stop()
	return in, nil
}

// waitListening waits until the emulator process is the one listening on
// every port: a connection that succeeds may have reached a stranger.
func (in *Instance) waitListening(ctx context.Context, ports []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pid := in.cmd.Process.Pid
	for {
		// Connecting is cheap; reading the kernel's socket tables (long on a
		// busy machine) is left for when every port answers.
		if !slices.ContainsFunc(ports, func(p int) bool { return !accepts(p) }) {
			owned, err := listeningPorts(pid)
			if err != nil {
				return fmt.Errorf("waiting for the emulator for %s to listen, %w", in.Function, err)
			}
			if !slices.ContainsFunc(ports, func(p int) bool { return !owned[p] }) {
				return nil
			}
		}
		select {
		case <-in.done:
			return errors.Join(fmt.Errorf("the emulator for %s exited before listening on ports %v (see its log)", in.Function, ports), in.exit)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator for %s did not listen on ports %v within %s", in.Function, ports, timeout)
		}
	}
}

// accepts reports whether something accepts connections on a loopback port.
func accepts(port int) bool {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// ownWriter is w for as long as the caller needs it: a duplicate of w's
// descriptor when w is a file, else w itself with a Close that does nothing.
func ownWriter(w io.Writer) (io.WriteCloser, error) {
	f, ok := w.(*os.File)
	if !ok {
		return nopCloser{w}, nil
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("duplicating %s, %w", f.Name(), err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// startOutput keeps what a process writes until stop, up to 64 KiB.
type startOutput struct {
	mu      sync.Mutex
	b       []byte
	stopped bool
}

func (o *startOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.stopped {
		o.b = append(o.b, p[:min(len(p), 64<<10-len(o.b))]...)
	}
	return len(p), nil
}

func (o *startOutput) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
}

func (o *startOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.b)
}

// lineWith is the first line of s that holds substr.
func lineWith(s, substr string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// Invoke sends one invocation and waits for the function's answer. A
// function error is a Result with Error set, not a Go error; a Go error
// means the invocation did not complete (emulator gone, timeout).
func (in *Instance) Invoke(ctx context.Context, payload []byte) (Result, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("building invocation of %s, %w", in.Function, err)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("invoking %s, %w", in.Function, err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading the answer of %s, %w", in.Function, err)
	}
	in.mu.Lock()
	if in.coldStart == 0 {
		in.coldStart = time.Since(in.started)
	}
	in.mu.Unlock()
	res := Result{Payload: body, Duration: time.Since(start)}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("invoking %s: emulator answered HTTP %d: %s", in.Function, resp.StatusCode, bytes.TrimSpace(body))
	}
	if fe := functionError(resp.Header, body); fe != nil {
		res.Error = fe
	}
	return res, nil
}

// functionError recognises a function error: the emulator answers 200 with
// the runtime's error document ({"errorType","errorMessage"}), with or
// without Lambda's X-Amz-Function-Error header.
func functionError(h http.Header, body []byte) *FunctionError {
	var doc struct {
		FunctionError
		StackTrace json.RawMessage `json:"stackTrace"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Message == "" && doc.Type == "" {
		if h.Get("X-Amz-Function-Error") != "" {
			return &FunctionError{Type: h.Get("X-Amz-Function-Error"), Message: string(body)}
		}
		return nil
	}
	// An object with only these keys is an error document; a successful
	// answer of ours never has errorMessage.
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) == nil { // an object, as doc decoded
		for k := range keys {
			if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
				return nil
			}
		}
	}
	return &doc.FunctionError
}

// ColdStart is the time from process start to the first invocation
// answered (zero before that).
func (in *Instance) ColdStart() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.coldStart
}

// Stop ends the emulator and the function process (its process group):
// SIGTERM, then SIGKILL after a second.
func (in *Instance) Stop() error {
	if in.cmd.Process == nil {
		return nil
	}
	pgid := in.cmd.Process.Pid
	select {
	case <-in.done:
		return signalGroup(pgid, syscall.SIGKILL) // orphans of the group, if any
	default:
	}
	errs := []error{signalGroup(pgid, syscall.SIGTERM)}
	select {
	case <-in.done:
	case <-time.After(time.Second):
		errs = append(errs, signalGroup(pgid, syscall.SIGKILL))
		<-in.done
	}
	errs = append(errs, signalGroup(pgid, syscall.SIGKILL))
	return errors.Join(errs...)
}

// signalGroup sends sig to a process group. A group already gone (ESRCH)
// is what stopping wants, so only other failures are errors.
func signalGroup(pgid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending %v to process group %d, %w", sig, pgid, err)
	}
	return nil
}

// Exited reports whether the emulator process has ended.
func (in *Instance) Exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

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
	"os/exec"
	"strconv"
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
func StartInstance(ctx context.Context, emulator, bootstrap, function string, env []string, log io.Writer) (*Instance, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	invokeAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	runtimeAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	cmd := exec.Command(emulator,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in := &Instance{Function: function, URL: "http://" + invokeAddr + invocationPath, cmd: cmd, done: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: false, MaxIdleConnsPerHost: 1}}}
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the emulator for %s, %w", function, err)
	}
	go func() { in.exit = cmd.Wait(); close(in.done) }()
	if err := in.waitListening(ctx, invokeAddr, 15*time.Second); err != nil {
		return nil, errors.Join(err, in.Stop())
	}
	return in, nil
}

func (in *Instance) waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-in.done:
			return errors.Join(fmt.Errorf("the emulator for %s exited before listening on %s (see its log)", in.Function, addr), in.exit)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator for %s did not listen on %s within %s", in.Function, addr, timeout)
		}
	}
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

// freePorts reserves n distinct loopback ports by binding and releasing them.
func freePorts(n int) (ports []int, err error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			if cerr := l.Close(); cerr != nil && err == nil {
				ports, err = nil, fmt.Errorf("releasing port %s, %w", l.Addr(), cerr)
			}
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port, %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

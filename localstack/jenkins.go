package localstack

import (
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Jenkins stands in for the Jenkins controller's configuration-as-code
// reload endpoint, the one template.yaml's reload rule calls through an
// EventBridge API destination. It answers as the JCasC plugin's
// TokenReloadAction does (jenkinsci/configuration-as-code-plugin,
// plugin/src/main/java/io/jenkins/plugins/casc/TokenReloadAction.java):
// POST /reload-configuration-as-code/ only (@RequirePOST: 405 otherwise);
// 404 when no token is configured (CASC_RELOAD_TOKEN empty: reload by
// token "is not enabled"); the casc-reload-token parameter compared in
// constant time with the token: 200 and a reload when it matches, 401
// otherwise. It serves HTTPS, as API destinations call HTTPS endpoints
// only; Client trusts its certificate.
type Jenkins struct {
	URL   string // the controller's base URL: the template's JenkinsUrl
	Token string // what Jenkins reads from CASC_RELOAD_TOKEN

	srv   *httptest.Server
	mu    sync.Mutex
	calls []ReloadCall
	// clock is the local AWS's time, when set (SetClock).
	clock func() time.Time
}

// ReloadCall is one request to the reload endpoint.
type ReloadCall struct {
	Time time.Time
	// AWSTime is the local AWS's time of the call (SetClock; zero
	// without): tests that move the AWS clock compare it with the events'.
	AWSTime time.Time
	Status  int    // what Jenkins answered: 200 is a reload
	From    string // the X-Jenkins-Agent-VPCs header the connection adds
}

// SetClock makes the stand-in stamp its calls with now as well (the local
// stack gives it the local AWS's clock).
func (j *Jenkins) SetClock(now func() time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.clock = now
}

// StartJenkins starts the stand-in on a free loopback port, its reload
// token token. Close stops it.
func StartJenkins(token string) *Jenkins {
	j := &Jenkins{Token: token}
	j.srv = httptest.NewTLSServer(http.HandlerFunc(j.serve))
	j.URL = j.srv.URL
	return j
}

func (j *Jenkins) serve(w http.ResponseWriter, r *http.Request) {
	status := j.answer(r)
	j.mu.Lock()
	c := ReloadCall{Time: time.Now(), Status: status, From: r.Header.Get("X-Jenkins-Agent-VPCs")}
	if j.clock != nil {
		c.AWSTime = j.clock()
	}
	j.calls = append(j.calls, c)
	j.mu.Unlock()
	w.WriteHeader(status)
}

// answer is what TokenReloadAction answers r.
func (j *Jenkins) answer(r *http.Request) int {
	switch {
	case r.URL.Path != "/reload-configuration-as-code/":
		return http.StatusNotFound
	case r.Method != http.MethodPost:
		return http.StatusMethodNotAllowed
	case j.Token == "":
		return http.StatusNotFound
	}
	// request.getParameter: the query string (or a form body).
	got := r.FormValue("casc-reload-token")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(j.Token)) != 1 {
		return http.StatusUnauthorized
	}
	return http.StatusOK
}

// Calls returns every request the reload endpoint got, in order.
func (j *Jenkins) Calls() []ReloadCall {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]ReloadCall(nil), j.calls...)
}

// Reloads counts the requests that reloaded the configuration.
func (j *Jenkins) Reloads() int {
	n := 0
	for _, c := range j.Calls() {
		if c.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// Client is an HTTP client that trusts the stand-in's certificate.
func (j *Jenkins) Client() *http.Client { return j.srv.Client() }

// Close stops the stand-in.
func (j *Jenkins) Close() { j.srv.Close() }

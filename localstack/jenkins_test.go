package localstack

import (
	"net/http"
	"testing"
)

// The stand-in answers as the JCasC plugin's TokenReloadAction.
func TestJenkinsAnswersAsTheJCasCReloadEndpoint(t *testing.T) {
	for _, tt := range []struct {
		name, token, method, path string
		want                      int
	}{
		{"right token", "t0ken", http.MethodPost, "/reload-configuration-as-code/?casc-reload-token=t0ken", http.StatusOK},
		{"wrong token", "t0ken", http.MethodPost, "/reload-configuration-as-code/?casc-reload-token=guess", http.StatusUnauthorized},
		{"no token in the request", "t0ken", http.MethodPost, "/reload-configuration-as-code/", http.StatusUnauthorized},
		{"reload by token not enabled", "", http.MethodPost, "/reload-configuration-as-code/?casc-reload-token=", http.StatusNotFound},
		{"GET", "t0ken", http.MethodGet, "/reload-configuration-as-code/?casc-reload-token=t0ken", http.StatusMethodNotAllowed},
		{"another path", "t0ken", http.MethodPost, "/configuration-as-code/reload?casc-reload-token=t0ken", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := StartJenkins(tt.token)
			defer j.Close()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, j.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := j.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
			if reloads, want := j.Reloads(), map[bool]int{true: 1, false: 0}[tt.want == http.StatusOK]; reloads != want || len(j.Calls()) != 1 {
				t.Errorf("reloads %d of %d calls, want %d of 1", reloads, len(j.Calls()), want)
			}
		})
	}
}

package gateway

import (
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
)

// MetricsPath is where the gateway's listener serves the process metrics when
// Config.Metrics is set (`stasima up`, whose one HTTP listener is the gateway's; a `serve`
// process has its own ops listener instead).
const MetricsPath = "/metrics"

// ProfilePath is the prefix of the Go runtime profiles (net/http/pprof), served beside
// /metrics to the operator on the machine (issue 15: operators profile a running node).
const ProfilePath = "/debug/pprof/"

// Profiler serves net/http/pprof's index, profiles, cmdline, symbol and trace under
// ProfilePath to loopback requests only (as /metrics), refusing every other request with 403.
func Profiler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ProfilePath, pprof.Index)
	mux.HandleFunc(ProfilePath+"cmdline", pprof.Cmdline)
	mux.HandleFunc(ProfilePath+"profile", pprof.Profile)
	mux.HandleFunc(ProfilePath+"symbol", pprof.Symbol)
	mux.HandleFunc(ProfilePath+"trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackRequest(r) {
			http.Error(w, "profiles are served to loopback only", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// withMetrics answers GET /metrics from metrics, ProfilePath from Profiler, and everything
// else from next. Both are for the operator on the machine, not the agents' perimeter: only a
// loopback peer that names a loopback host and is not a proxy forwarding someone else's
// request is served.
func withMetrics(metrics, next http.Handler) http.Handler {
	profiler := Profiler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ProfilePath) {
			profiler.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != MetricsPath {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !loopbackRequest(r) {
			http.Error(w, "metrics are served to loopback only", http.StatusForbidden)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

func loopbackRequest(r *http.Request) bool {
	if r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" {
		return false
	}
	isLoop := func(hostport string) bool {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			host = hostport
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return isLoop(r.RemoteAddr) && isLoop(r.Host)
}

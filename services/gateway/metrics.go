package gateway

import (
	"net"
	"net/http"
)

// MetricsPath is where the gateway's listener serves the process metrics when
// Config.Metrics is set (`stasima up`, whose one HTTP listener is the gateway's; a `serve`
// process has its own ops listener instead).
const MetricsPath = "/metrics"

// withMetrics answers GET /metrics from metrics and everything else from next. Metrics are
// for the operator on the machine, not the agents' perimeter: only a loopback peer that names
// a loopback host and is not a proxy forwarding someone else's request is served.
func withMetrics(metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

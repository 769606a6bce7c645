package apiserver

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Browsers are the HTTP API's risk even on loopback: a page on any site
// may send requests to 127.0.0.1:7070 from the user's machine. Two
// guards stop it:
//
//   - crossOrigin refuses writes (POST, PUT) that a browser marks as
//     cross-site (Sec-Fetch-Site, or an Origin that is not the Host), such
//     as a form or text/plain POST that needs no CORS preflight. Clients
//     that are not browsers send neither header and pass.
//   - loopbackHosts, on a loopback listener, refuses a Host that is not a
//     loopback name: a DNS-rebinding page reaches 127.0.0.1 under its own
//     domain, and reads the answers as same-origin.

// crossOrigin wraps next in net/http's cross-origin protection, answering
// refusals in the API's JSON.
func crossOrigin(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused: the API does not serve browsers on other sites")
	}))
	return p.Handler(next)
}

// loopbackHosts refuses requests whose Host is not a loopback name.
func loopbackHosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackName(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not this loopback listener's: use 127.0.0.1, [::1] or localhost", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackName reports whether a Host header (host or host:port) names
// this machine's loopback.
func loopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackListen reports whether a listen address reaches this machine
// only.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && loopbackName(host)
}

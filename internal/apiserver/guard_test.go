package apiserver

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrossSiteWritesAreRefused: a page on another site cannot ack or
// snooze through the user's browser, with or without a token configured;
// tools that are not browsers (no Origin, no Sec-Fetch-Site) pass.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		h := newTestHandler(newFakeEngine(), token)
		auth := []string{}
		if token != "" {
			auth = []string{"Authorization", "Bearer " + token}
		}
		tests := []struct {
			name, method, target, body string
			header                     []string
			want                       int
		}{
			{"text/plain POST from another site", "POST", "/v1/customers/acme/snooze", `{"for":"3d","by":"x"}`,
				[]string{"Content-Type", "text/plain", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
			{"form POST from another site, old browser", "POST", "/v1/alerts/al-1/ack", `by=x`,
				[]string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example"}, 403},
			{"PUT from a sibling site", "PUT", "/v1/customers/acme", `{"arr":1}`,
				[]string{"Sec-Fetch-Site", "same-site"}, 403},
			{"same-origin page", "POST", "/v1/customers/acme/snooze", `{"for":"3d","by":"x"}`,
				[]string{"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"}, 200},
			{"curl", "POST", "/v1/customers/acme/snooze", `{"for":"3d","by":"x"}`, nil, 200},
			{"cross-site read", "GET", "/v1/customers/acme", ``,
				[]string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 200},
		}
		for _, tt := range tests {
			t.Run(tt.name+" token="+token, func(t *testing.T) {
				rec := do(t, h, tt.method, tt.target, tt.body, append(auth, tt.header...)...)
				require.Equal(t, tt.want, rec.Code, rec.Body.String())
				if tt.want == 403 {
					assert.Contains(t, errorOf(t, rec), "cross-origin request refused")
				}
			})
		}
	}
}

// wait bounds how long a test waits for the server to start; pollEvery
// is how often it looks.
const (
	wait      = 10 * time.Second
	pollEvery = 20 * time.Millisecond
)

// TestLoopbackListenerChecksTheHost: a DNS-rebinding page reaches the
// loopback listener under its own name, and is refused.
func TestLoopbackListenerChecksTheHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, newTestHandler(newFakeEngine(), ""), "", "", nil) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, 200},
		{"localhost:" + port, 200},
		{"LOCALHOST", 200},
		{"127.0.0.2", 200},
		{"[::1]:" + port, 200},
		{"evil.example:" + port, 421},
		{"evil.example", 421},
		{"10.0.0.1:" + port, 421},
		{"localhost.evil.example", 421},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			var resp *http.Response
			require.Eventually(t, func() bool { // the server starts in the background
				req, err := http.NewRequest("GET", "http://"+addr+"/v1/customers/acme", nil)
				require.NoError(t, err)
				req.Host = tt.host
				resp, err = http.DefaultClient.Do(req)
				return err == nil
			}, wait, pollEvery)
			defer func() { _ = resp.Body.Close() }()
			assert.Equal(t, tt.want, resp.StatusCode)
		})
	}
}

func TestLoopbackNames(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:7070": true, "localhost:7070": true, "[::1]:7070": true,
		"0.0.0.0:7070": false, ":7070": false, "10.1.2.3:7070": false, "example.com:7070": false} {
		assert.Equal(t, want, isLoopbackListen(addr), addr)
	}
	assert.False(t, loopbackName(strings.Repeat("a", 300)))
}

// FuzzLoopbackName: any Host header is judged without a panic, and one
// judged loopback names localhost or a loopback IP.
func FuzzLoopbackName(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7070", "localhost", "[::1]:1", "evil.example", "localhost.", "[::ffff:127.0.0.1]:80", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !loopbackName(host) {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
		ip := net.ParseIP(h)
		if !strings.EqualFold(h, "localhost") && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("%q judged loopback", host)
		}
	})
}

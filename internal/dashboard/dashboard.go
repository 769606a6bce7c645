// Package dashboard is riskd's web page for customer success managers: the
// book of customers at risk, one customer's story (score chart, the
// contributions and the signals behind them, the open alert's playbook),
// acknowledging and snoozing, a live feed of alerts and the active rules.
//
// It reads and acts only through apiserver.Engine, the seam every other
// API uses, plus a JetStream handle for the stream of alerts. Templates,
// styles and script are embedded: no Node toolchain, no CDN, no external
// font. Its routes (/ and /ui/...) have their own authentication: with a
// token configured the page asks for it once and keeps a session cookie,
// and every POST carries the session's CSRF token.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/rules"
)

//go:embed assets
var assets embed.FS

// Options configure the page.
type Options struct {
	// Engine is what the page reads and acts through.
	Engine apiserver.Engine
	// JetStream reads the alert stream: the live feed and a customer's
	// alerts. Nil leaves both out, and the page says so.
	JetStream jetstream.JetStream
	// Rules is the active rule set and RulesText the file it was parsed
	// from, as written: the rules page shows both; the chart draws the
	// tiers' bands of the set.
	Rules     *rules.Set
	RulesText []byte
	// Token, when not empty, is what a person types once to get a session:
	// riskd's --http-token.
	Token string
	// ReadOnly hides acks and snoozes and refuses them.
	ReadOnly bool
	// Stop is closed when riskd shuts down: live feeds end then, so that
	// the HTTP server's graceful shutdown is not held up by them.
	Stop <-chan struct{}
	Now  func() time.Time
	Log  *zap.Logger
	// PageSize is the number of customers on a page of the book (50).
	PageSize int
	// CacheTTL is how long a list read from the engine serves pages before
	// it is read again in the background (5 s).
	CacheTTL time.Duration
}

// Dashboard serves the page. It is an http.Handler for its own paths; see
// Mount.
type Dashboard struct {
	o        Options
	tmpl     map[string]*template.Template
	static   http.Handler
	sessions *sessions
	book     *bookCache
	fires    *fireCache
	mux      *http.ServeMux
	handler  http.Handler
}

// New checks o and parses the embedded templates.
func New(o Options) (*Dashboard, error) {
	if o.Engine == nil {
		return nil, errors.New("dashboard: an engine is required")
	}
	if o.Rules == nil {
		return nil, errors.New("dashboard: a rule set is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.Stop == nil {
		o.Stop = make(chan struct{}) // never closed: feeds end with their requests
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	d := &Dashboard{o: o, tmpl: tmpl, static: http.StripPrefix("/ui/static/", http.FileServerFS(static)),
		sessions: newSessions(o.Now), book: newBookCache(o.Engine, o.CacheTTL, o.Now),
		fires: &fireCache{ttl: time.Minute}}
	d.routes()
	// The default list is read now, not by the first visitor: at 100,000
	// customers it takes the engine most of a second.
	go d.book.get(listKey{tier: "risk"})
	return d, nil
}

// Owns reports whether path is one of the page's: / and everything under
// /ui/.
func Owns(path string) bool { return path == "/" || strings.HasPrefix(path, "/ui/") }

// Mount serves the page's paths with d and every other path with api, so
// that the API keeps its own authentication and the page its session.
func Mount(api http.Handler, d *Dashboard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Owns(r.URL.Path) {
			d.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (d *Dashboard) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", d.authed(d.bookPage))
	m.HandleFunc("GET /ui/customers/{id}", d.authed(d.customerPage))
	m.HandleFunc("GET /ui/alerts", d.authed(d.alertsPage))
	m.HandleFunc("GET /ui/alerts/events", d.authed(d.alertEvents))
	m.HandleFunc("GET /ui/rules", d.authed(d.rulesPage))
	m.HandleFunc("POST /ui/customers/{id}/ack", d.authed(d.writes(d.ack)))
	m.HandleFunc("POST /ui/customers/{id}/snooze", d.authed(d.writes(d.snooze)))
	m.HandleFunc("POST /ui/customers/{id}/unsnooze", d.authed(d.writes(d.unsnooze)))
	m.HandleFunc("GET /ui/login", d.loginPage)
	m.HandleFunc("POST /ui/login", d.login)
	m.HandleFunc("POST /ui/logout", d.logout)
	m.Handle("GET /ui/static/", d.static)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
	d.mux = m
	// Cross-origin POSTs are refused by the browser's own headers
	// (Sec-Fetch-Site, Origin) before the session's CSRF token is checked:
	// two locks, since a proxy may strip one.
	cop := http.NewCrossOriginProtection()
	d.handler = d.recover(securityHeaders(cop.Handler(m)))
}

// ServeHTTP serves the page's paths.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.handler.ServeHTTP(w, r)
}

// maxForm bounds a request body of the page's.
const maxForm = 64 << 10

// securityHeaders forbid framing, sniffing and anything the page does not
// itself ship: no inline script, no outside origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		// A form is a few fields: bound what ParseForm reads (its own
		// limit is 10 MB).
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		next.ServeHTTP(w, r)
	})
}

// recover turns a panic into a 500 page instead of a dropped connection.
func (d *Dashboard) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				d.o.Log.Error("panic in dashboard handler", zap.String("path", r.URL.Path),
					zap.Any("panic", p), zap.Stack("stack"))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets: the page's own data and the frame's.
type page struct {
	Title    string
	Nav      string // which tab is current
	Session  *session
	ReadOnly bool
	Auth     bool // a token is required: show "sign out"
	Flash    string
	Data     any
}

// render writes template name with data, buffered so that an error in the
// template is a clean 500 and not half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := d.tmpl[name]
	if !ok {
		d.o.Log.Error("no such template", zap.String("template", name))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.ReadOnly, p.Auth = d.o.ReadOnly, d.o.Token != ""
	if p.Session == nil {
		p.Session = sessionOf(r)
	}
	if p.Flash == "" {
		p.Flash = r.URL.Query().Get("flash")
		if len(p.Flash) > 200 {
			p.Flash = p.Flash[:200]
		}
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		d.o.Log.Error("render", zap.String("template", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail shows an error page: the message is for a person.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error, status int, msg string) {
	if status >= 500 && err != nil {
		d.o.Log.Warn("dashboard request failed", zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
	}
	if wantsJSON(r) {
		writeJSONError(w, status, msg)
		return
	}
	d.render(w, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(append(body, '\n'))
}

// requestContext bounds a request's reads of the stream.
func requestContext(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

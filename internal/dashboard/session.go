package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Session bounds: a day's work, and a cap so that a flood of logins
// cannot grow the table without end.
const (
	cookieName  = "riskwatch_session"
	sessionTTL  = 12 * time.Hour
	maxSessions = 10_000
)

// session is one browser's: its CSRF token and the name its person acts
// under (the "by" of acks and snoozes).
type session struct {
	id      string
	CSRF    string
	mu      sync.Mutex
	name    string
	expires time.Time
}

// Name is who the session last acted as.
func (s *session) Name() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

func (s *session) setName(n string) {
	s.mu.Lock()
	s.name = n
	s.mu.Unlock()
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session, dropping expired ones, and the oldest one
// when the table is full.
func (ss *sessions) create(name string) *session {
	now := ss.now()
	s := &session{id: randomToken(), CSRF: randomToken(), name: name, expires: now.Add(sessionTTL)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		var oldest *session
		for id, o := range ss.m {
			if now.After(o.expires) {
				delete(ss.m, id)
				continue
			}
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		if len(ss.m) >= maxSessions && oldest != nil {
			delete(ss.m, oldest.id)
		}
	}
	ss.m[s.id] = s
	return s
}

func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil
	}
	if ss.now().After(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

type sessionKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, s *session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL / time.Second)})
}

// authed finds the request's session. Without a token a browser gets one
// on its first visit, for the CSRF token; with one, a request without a
// valid session goes to the sign-in page (or gets 401 when it is not a
// page).
func (d *Dashboard) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if c, err := r.Cookie(cookieName); err == nil {
			s = d.sessions.get(c.Value)
		}
		if s == nil {
			if d.o.Token != "" {
				if r.Method == http.MethodGet && !wantsJSON(r) && r.Header.Get("Accept") != "text/event-stream" {
					http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				writeJSONError(w, http.StatusUnauthorized, "sign in first: the session is missing or expired")
				return
			}
			if r.Method != http.MethodGet {
				// A POST without a session cannot carry its CSRF token.
				d.fail(w, r, nil, http.StatusForbidden, "Your session has expired: reload the page and try again.")
				return
			}
			s = d.sessions.create("")
			d.setCookie(w, r, s)
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	}
}

// writes guards the routes that act: refused in read-only mode, and only
// with the session's CSRF token, in the form or the X-CSRF-Token header.
func (d *Dashboard) writes(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.o.ReadOnly {
			d.fail(w, r, nil, http.StatusForbidden, "This dashboard is read-only: acks and snoozes are off.")
			return
		}
		s := sessionOf(r)
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.PostFormValue("csrf")
		}
		if s == nil || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
			d.fail(w, r, nil, http.StatusForbidden, "The form's security token is missing or stale: reload the page and try again.")
			return
		}
		next(w, r)
	}
}

type loginData struct {
	Next  string
	Error string
	Name  string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if d.o.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Data: loginData{Next: localPath(r.URL.Query().Get("next"))}})
}

// login checks the token in constant time, digests hiding its length.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if d.o.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	next := localPath(r.PostFormValue("next"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	want := sha256.Sum256([]byte(d.o.Token))
	got := sha256.Sum256([]byte(r.PostFormValue("token")))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		d.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in",
			Data: loginData{Next: next, Name: name, Error: "That token is not riskd's --http-token."}})
		return
	}
	if len(name) > signals.MaxField {
		name = name[:signals.MaxField]
	}
	s := d.sessions.create(name)
	d.setCookie(w, r, s)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if s := d.sessions.get(c.Value); s != nil {
			got := r.PostFormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
				d.fail(w, r, nil, http.StatusForbidden, "The form's security token is missing or stale.")
				return
			}
			d.sessions.drop(c.Value)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
	to := "/"
	if d.o.Token != "" {
		to = "/ui/login"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localPath keeps a redirect on this site: a path, not "//evil" or a URL.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n") || len(p) > 2048 {
		return "/"
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}

// Package configs_test proves that configs/nats-server.conf, the example
// production NATS configuration, grants each Riskwatch role exactly the rights
// its comments promise: it starts a real nats-server from the file and
// connects as every user.
package configs_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

const natsConfPath = "nats-server.conf"

// wait bounds how long a test waits for something that should happen at once
// (a reply, a delivery); it is never compared against a measured duration.
const wait = 10 * time.Second

// role is one user of the config: the env var holding its password on the
// server side, the plain password its clients present, and the inbox prefix
// its clients must use so replies land under their own subscribe rights.
type role struct {
	user     string
	env      string
	password string
	inbox    string
}

var (
	riskd    = role{user: "riskd", env: "RISKWATCH_NATS_RISKD_PASSWORD", password: "riskd-7f3c9a1e"}
	producer = role{user: "producer", env: "RISKWATCH_NATS_PRODUCER_PASSWORD", password: "producer-2b8d4e6f", inbox: "_INBOX.producer"}
	csm      = role{user: "csm", env: "RISKWATCH_NATS_CSM_PASSWORD", password: "csm-9a1c5d3b", inbox: "_INBOX.csm"}
	operator = role{user: "operator", env: "RISKWATCH_NATS_OPERATOR_PASSWORD", password: "operator-4e6a8c0d"}

	roles = []role{riskd, producer, csm, operator}
)

// setPasswords exports every role's password the way an operator would. The
// operator's is a bcrypt hash, as the config recommends, so the test also
// proves a hash survives the `$VAR` expansion intact.
func setPasswords(t *testing.T) {
	t.Helper()
	for _, r := range roles {
		secret := r.password
		if r == operator {
			hash, err := bcrypt.GenerateFromPassword([]byte(r.password), bcrypt.MinCost)
			require.NoError(t, err)
			secret = string(hash)
		}
		t.Setenv(r.env, secret)
	}
}

// startServer runs nats-server from the example config, moved to a random
// port and a temporary JetStream store so tests never touch a real install.
func startServer(t *testing.T) *server.Server {
	t.Helper()
	setPasswords(t)
	opts, err := server.ProcessConfigFile(natsConfPath)
	require.NoError(t, err)
	opts.Port = server.RANDOM_PORT
	opts.StoreDir = t.TempDir()
	opts.NoSigs = true

	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(wait), "nats-server did not become ready")
	return s
}

// quietErrors replaces the default handler, which prints every refusal to
// stderr; the tests read refusals from LastError instead.
var quietErrors = nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})

func connect(t *testing.T, s *server.Server, r role) *nats.Conn {
	t.Helper()
	opts := []nats.Option{
		nats.UserInfo(r.user, r.password),
		nats.Name("natsconf-test-" + r.user),
		quietErrors,
	}
	if r.inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(r.inbox))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	require.NoError(t, err, "connect as %s", r.user)
	t.Cleanup(nc.Close)
	return nc
}

func TestNATSConfigDefaults(t *testing.T) {
	setPasswords(t)
	opts, err := server.ProcessConfigFile(natsConfPath)
	require.NoError(t, err)

	assert.Equal(t, "127.0.0.1", opts.Host, "must listen on loopback unless changed on purpose")
	assert.Equal(t, 4222, opts.Port)
	assert.True(t, opts.JetStream)
	assert.NotEmpty(t, opts.StoreDir)
	assert.Empty(t, opts.NoAuthUser, "no_auth_user would let anonymous clients in")
	assert.Nil(t, opts.TLSConfig, "the tls block ships commented out")
	// Signals are at most 64 KiB; headers and DLQ copies need headroom.
	assert.Equal(t, int32(1<<20), opts.MaxPayload)

	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	require.Len(t, users, len(roles))
	for _, r := range roles {
		u, ok := users[r.user]
		require.True(t, ok, "user %s missing", r.user)
		assert.Equal(t, "RISKWATCH", u.Account.Name, "user %s", r.user)
		assert.NotEmpty(t, u.Password, "user %s", r.user)
	}
	assert.Nil(t, users[operator.user].Permissions, "operator has full access in the account")
	assert.NotNil(t, users[riskd.user].Permissions.Response, "riskd answers requests through allow_responses")
}

// A forgotten secret must stop the server, never become an empty password.
func TestNATSConfigMissingPasswordFails(t *testing.T) {
	for _, r := range roles {
		t.Run(r.user, func(t *testing.T) {
			setPasswords(t)
			require.NoError(t, os.Unsetenv(r.env)) // t.Setenv restores it afterwards

			_, err := server.ProcessConfigFile(natsConfPath)
			require.Error(t, err)
			assert.Contains(t, err.Error(), r.env)
		})
	}
}

func TestNATSAuthentication(t *testing.T) {
	s := startServer(t)

	t.Run("every role logs in with its own password", func(t *testing.T) {
		for _, r := range roles {
			nc := connect(t, s, r)
			assert.True(t, nc.IsConnected(), r.user)
		}
	})

	refused := []struct {
		name string
		opts []nats.Option
	}{
		{name: "anonymous", opts: nil},
		{name: "wrong password", opts: []nats.Option{nats.UserInfo(csm.user, "guess")}},
		{name: "another user's password", opts: []nats.Option{nats.UserInfo(operator.user, csm.password)}},
		{name: "operator's bcrypt hash as password", opts: []nats.Option{nats.UserInfo(operator.user, os.Getenv(operator.env))}},
		{name: "unknown user", opts: []nats.Option{nats.UserInfo("admin", operator.password)}},
	}
	for _, tc := range refused {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			nc, err := nats.Connect(s.ClientURL(), tc.opts...)
			if nc != nil {
				nc.Close()
			}
			require.ErrorIs(t, err, nats.ErrAuthorization)
		})
	}
}

type action int

const (
	publish action = iota
	subscribe
)

func (a action) String() string {
	if a == publish {
		return "pub"
	}
	return "sub"
}

// TestNATSPermissions checks single publish and subscribe rights per role. The
// server answers a refused PUB or SUB with an -ERR that arrives before the
// PONG of the following Flush, so LastError is settled once Flush returns.
// Each case gets a fresh connection because LastError is sticky.
func TestNATSPermissions(t *testing.T) {
	s := startServer(t)

	cases := []struct {
		role    role
		act     action
		subject string
		allowed bool
	}{
		// producer: input in, publish acks back, nothing else.
		{producer, publish, "risk.signals.usage", true},
		{producer, publish, "risk.signals.ticket.acme-corp", true},
		{producer, publish, "risk.customers.acme-corp", true},
		{producer, subscribe, "_INBOX.producer.>", true},
		{producer, publish, "risk.alerts.critical.a.b", false},
		{producer, publish, "risk.digest.daily", false},
		{producer, publish, "risk.dlq.unknown", false},
		{producer, publish, "risk.actions.ack", false},
		{producer, publish, "risk.api.customer.get", false},
		{producer, publish, "$JS.API.STREAM.DELETE.RISK_SIGNALS", false},
		{producer, publish, "$JS.API.STREAM.PURGE.RISK_SIGNALS", false},
		{producer, publish, "$KV.risk_customers.acme-corp", false},
		{producer, subscribe, "risk.alerts.>", false},
		{producer, subscribe, "risk.alerts.critical.alice.acme-corp", false},
		{producer, subscribe, "risk.digest.>", false},
		{producer, subscribe, "risk.signals.>", false},
		{producer, subscribe, ">", false},
		{producer, subscribe, "_INBOX.>", false},
		{producer, subscribe, "_INBOX.csm.>", false},

		// csm: alerts and digests, the API, own inbox.
		{csm, subscribe, "risk.alerts.>", true},
		{csm, subscribe, "risk.alerts.*.alice.>", true},
		{csm, subscribe, "risk.alerts.critical.>", true},
		{csm, subscribe, "risk.digest.>", true},
		{csm, subscribe, "_INBOX.csm.>", true},
		{csm, publish, "risk.api.customer.get", true},
		{csm, publish, "risk.api.customer.list", true},
		{csm, publish, "risk.api.explain", true},
		{csm, publish, "risk.api.alert.ack", true},
		{csm, publish, "risk.api.customer.snooze", true},
		{csm, publish, "risk.api.customer.put", false},
		{csm, publish, "risk.signals.usage", false},
		{csm, publish, "risk.signals.rating.acme-corp", false},
		{csm, publish, "risk.customers.acme-corp", false},
		{csm, publish, "risk.alerts.critical.a.b", false},
		{csm, publish, "$JS.API.STREAM.INFO.RISK_SIGNALS", false},
		{csm, publish, "$JS.API.CONSUMER.CREATE.RISK_SIGNALS", false},
		{csm, publish, "$JS.API.CONSUMER.MSG.NEXT.RISK_SIGNALS.csm", false},
		{csm, publish, "$JS.API.DIRECT.GET.RISK_SIGNALS", false},
		{csm, publish, "$KV.risk_customers.acme-corp", false},
		{csm, publish, "$SRV.INFO.riskwatch", false},
		{csm, subscribe, "risk.signals.>", false},
		{csm, subscribe, "risk.signals.usage", false},
		{csm, subscribe, "risk.customers.>", false},
		{csm, subscribe, "risk.dlq.>", false},
		{csm, subscribe, "risk.api.>", false},
		{csm, subscribe, "risk.>", false},
		{csm, subscribe, "_INBOX.>", false},
		{csm, subscribe, "_INBOX.producer.>", false},

		// riskd: its own tree and JetStream, replies only through allow_responses.
		{riskd, publish, "risk.alerts.critical.alice.acme-corp", true},
		{riskd, publish, "risk.digest.daily.alice", true},
		{riskd, publish, "risk.dlq.unknown", true},
		{riskd, publish, "risk.actions.ack", true},
		{riskd, publish, "$JS.API.INFO", true},
		{riskd, publish, "$KV.risk_customers.acme-corp", true},
		{riskd, subscribe, "risk.api.>", true},
		{riskd, subscribe, "$SRV.>", true},
		{riskd, subscribe, "_INBOX.>", true},
		{riskd, publish, "_INBOX.csm.x.1", false},
		{riskd, publish, "billing.invoices", false},
		{riskd, subscribe, "billing.>", false},

		// operator: everything within the account.
		{operator, publish, "risk.signals.usage", true},
		{operator, publish, "$JS.API.STREAM.DELETE.RISK_SIGNALS", true},
		{operator, subscribe, ">", true},
	}
	for _, tc := range cases {
		verdict := "denied"
		if tc.allowed {
			verdict = "allowed"
		}
		t.Run(tc.role.user+" "+tc.act.String()+" "+tc.subject+" "+verdict, func(t *testing.T) {
			nc := connect(t, s, tc.role)
			switch tc.act {
			case publish:
				require.NoError(t, nc.Publish(tc.subject, []byte(`{}`)))
			case subscribe:
				_, err := nc.SubscribeSync(tc.subject)
				require.NoError(t, err)
			}
			require.NoError(t, nc.Flush())

			err := nc.LastError()
			if tc.allowed {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, nats.ErrPermissionViolation)
			assert.Contains(t, err.Error(), `"`+tc.subject+`"`)
		})
	}
}

var (
	signalsStream = jetstream.StreamConfig{
		Name:     "RISK_SIGNALS",
		Subjects: []string{"risk.signals.>", "risk.customers.>", "risk.actions.>"},
		Storage:  jetstream.FileStorage,
	}
	alertsStream = jetstream.StreamConfig{
		Name:     "RISK_ALERTS",
		Subjects: []string{"risk.alerts.>", "risk.digest.>"},
		Storage:  jetstream.FileStorage,
	}
	dlqStream = jetstream.StreamConfig{
		Name:     "RISK_DLQ",
		Subjects: []string{"risk.dlq.>"},
		Storage:  jetstream.FileStorage,
	}
)

// TestNATSJetStreamFlow walks one signal and one alert through the streams
// with each party on its own credentials.
func TestNATSJetStreamFlow(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)

	riskdJS, err := jetstream.New(connect(t, s, riskd))
	require.NoError(t, err)
	for _, cfg := range []jetstream.StreamConfig{signalsStream, alertsStream, dlqStream} {
		_, err := riskdJS.CreateStream(ctx, cfg)
		require.NoError(t, err, "riskd creates %s", cfg.Name)
	}

	t.Run("riskd keeps profiles in a risk_ KV bucket", func(t *testing.T) {
		kv, err := riskdJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "risk_customers"})
		require.NoError(t, err)
		_, err = kv.Put(ctx, "acme-corp", []byte(`{"id":"acme-corp","owner":"alice"}`))
		require.NoError(t, err)
		entry, err := kv.Get(ctx, "acme-corp")
		require.NoError(t, err)
		assert.JSONEq(t, `{"id":"acme-corp","owner":"alice"}`, string(entry.Value()))
	})

	producerJS, err := jetstream.New(connect(t, s, producer))
	require.NoError(t, err)
	signal := []byte(`{"id":"zd-88412-opened","kind":"ticket","customer":"acme-corp","time":"2026-11-20T10:04:00Z","source":"zendesk","data":{"status":"opened"}}`)

	t.Run("producer gets publish acks from RISK_SIGNALS", func(t *testing.T) {
		publishes := []struct {
			subject   string
			msgID     string
			duplicate bool
		}{
			{subject: "risk.signals.ticket.acme-corp", msgID: "zd-88412-opened"},
			{subject: "risk.signals.ticket.acme-corp", msgID: "zd-88412-opened", duplicate: true},
			{subject: "risk.customers.acme-corp", msgID: "crm-acme-1"},
		}
		for _, p := range publishes {
			ack, err := producerJS.Publish(ctx, p.subject, signal, jetstream.WithMsgID(p.msgID))
			require.NoError(t, err, p.subject)
			assert.Equal(t, "RISK_SIGNALS", ack.Stream)
			assert.Equal(t, p.duplicate, ack.Duplicate, "%s id %s", p.subject, p.msgID)
		}
	})

	t.Run("riskd consumes and acks the signal", func(t *testing.T) {
		cons, err := riskdJS.CreateOrUpdateConsumer(ctx, "RISK_SIGNALS", jetstream.ConsumerConfig{
			Durable:       "riskd",
			AckPolicy:     jetstream.AckExplicitPolicy,
			FilterSubject: "risk.signals.>",
		})
		require.NoError(t, err)
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		require.NoError(t, err)
		var got []jetstream.Msg
		for msg := range batch.Messages() {
			got = append(got, msg)
		}
		require.NoError(t, batch.Error())
		require.Len(t, got, 1)
		assert.Equal(t, "risk.signals.ticket.acme-corp", got[0].Subject())
		assert.Equal(t, signal, got[0].Data())
		require.NoError(t, got[0].DoubleAck(ctx))
	})

	t.Run("csm receives an alert riskd stores in RISK_ALERTS", func(t *testing.T) {
		csmConn := connect(t, s, csm)
		sub, err := csmConn.SubscribeSync("risk.alerts.*.alice.>")
		require.NoError(t, err)
		require.NoError(t, csmConn.Flush())

		alert := []byte(`{"id":"al-1","type":"raised","customer":"acme-corp","tier":"critical"}`)
		ack, err := riskdJS.Publish(ctx, "risk.alerts.critical.alice.acme-corp", alert, jetstream.WithMsgID("al-1"))
		require.NoError(t, err)
		assert.Equal(t, "RISK_ALERTS", ack.Stream)

		msg, err := sub.NextMsg(wait)
		require.NoError(t, err)
		assert.Equal(t, "risk.alerts.critical.alice.acme-corp", msg.Subject)
		assert.Equal(t, alert, msg.Data)
		require.NoError(t, csmConn.LastError())
	})

	t.Run("riskd stores digests and dead letters", func(t *testing.T) {
		stores := []struct {
			subject string
			stream  string
		}{
			{subject: "risk.digest.daily.alice", stream: "RISK_ALERTS"},
			{subject: "risk.dlq.unknown", stream: "RISK_DLQ"},
		}
		for _, st := range stores {
			msg := nats.NewMsg(st.subject)
			msg.Data = []byte(`not json`)
			msg.Header.Set("Riskwatch-Error", "undecodable")
			ack, err := riskdJS.PublishMsg(ctx, msg)
			require.NoError(t, err, st.subject)
			assert.Equal(t, st.stream, ack.Stream, st.subject)
		}
	})
}

var apiEndpoints = []struct {
	name    string
	subject string
}{
	{name: "customer-get", subject: "risk.api.customer.get"},
	{name: "customer-list", subject: "risk.api.customer.list"},
	{name: "explain", subject: "risk.api.explain"},
	{name: "customer-put", subject: "risk.api.customer.put"},
	{name: "alert-ack", subject: "risk.api.alert.ack"},
	{name: "customer-snooze", subject: "risk.api.customer.snooze"},
}

// TestNATSMicroService runs the "riskwatch" micro service as riskd and calls
// it as each client role: riskd holds no publish right on any inbox, so every
// answer here travels on allow_responses.
func TestNATSMicroService(t *testing.T) {
	s := startServer(t)

	riskdConn := connect(t, s, riskd)
	svc, err := micro.AddService(riskdConn, micro.Config{Name: "riskwatch", Version: "0.1.0"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	for _, ep := range apiEndpoints {
		subject := ep.subject
		err := svc.AddEndpoint(ep.name, micro.HandlerFunc(func(req micro.Request) {
			_ = req.Respond([]byte("answered " + subject))
		}), micro.WithEndpointSubject(subject))
		require.NoError(t, err)
	}
	// The endpoints subscribe asynchronously; a round trip to the server
	// makes sure it knows them before another connection sends a request.
	require.NoError(t, riskdConn.Flush())

	requests := []struct {
		role    role
		subject string
	}{
		{csm, "risk.api.customer.get"},
		{csm, "risk.api.customer.list"},
		{csm, "risk.api.explain"},
		{csm, "risk.api.alert.ack"},
		{csm, "risk.api.customer.snooze"},
		{operator, "risk.api.customer.put"},
		{operator, "risk.api.customer.get"},
	}
	for _, rq := range requests {
		t.Run(rq.role.user+" requests "+rq.subject, func(t *testing.T) {
			nc := connect(t, s, rq.role)
			reply, err := nc.Request(rq.subject, []byte(`{"customer":"acme-corp"}`), wait)
			require.NoError(t, err)
			assert.Equal(t, "answered "+rq.subject, string(reply.Data))
			require.NoError(t, nc.LastError())
		})
	}

	t.Run("operator discovers the service", func(t *testing.T) {
		nc := connect(t, s, operator)
		reply, err := nc.Request("$SRV.INFO.riskwatch", nil, wait)
		require.NoError(t, err)
		var info micro.Info
		require.NoError(t, json.Unmarshal(reply.Data, &info))
		assert.Equal(t, "riskwatch", info.Name)
		assert.Len(t, info.Endpoints, len(apiEndpoints))
	})

	t.Run("csm write to customer.put never reaches riskd", func(t *testing.T) {
		before := putRequests(t, svc)
		nc := connect(t, s, csm)
		require.NoError(t, nc.Publish("risk.api.customer.put", []byte(`{}`)))
		// The server drops a refused PUB before routing it and answers -ERR
		// before the PONG, so once Flush returns the responder has either
		// seen the request or never will.
		require.NoError(t, nc.Flush())
		require.ErrorIs(t, nc.LastError(), nats.ErrPermissionViolation)
		assert.Equal(t, before, putRequests(t, svc))
	})
}

func putRequests(t *testing.T, svc micro.Service) int {
	t.Helper()
	for _, ep := range svc.Stats().Endpoints {
		if ep.Subject == "risk.api.customer.put" {
			return ep.NumRequests
		}
	}
	require.FailNow(t, "customer.put endpoint missing from service stats")
	return 0
}

// A client that keeps the default "_INBOX." prefix cannot receive replies as
// producer or csm; this is the failure users will see if the README step is
// skipped, so pin it down.
func TestNATSDefaultInboxPrefixIsRefused(t *testing.T) {
	s := startServer(t)
	for _, r := range []role{producer, csm} {
		t.Run(r.user, func(t *testing.T) {
			nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(r.user, r.password), quietErrors)
			require.NoError(t, err)
			t.Cleanup(nc.Close)

			_, err = nc.SubscribeSync(nc.NewRespInbox())
			require.NoError(t, err)
			require.NoError(t, nc.Flush())
			require.ErrorIs(t, nc.LastError(), nats.ErrPermissionViolation)
		})
	}
}

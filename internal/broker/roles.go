package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
)

// The roles of configs/nats-server.conf, which the embedded server applies
// too (TestRolesMatchTheExampleConfig holds the two together).
const (
	RoleRiskd    = "riskd"
	RoleProducer = "producer"
	RoleCSM      = "csm"
	RoleOperator = "operator"
	// OwnerRolePrefix starts the user of one CSM: "csm-alice" may ack and
	// snooze only the customers owned by alice.
	OwnerRolePrefix = "csm-"
)

// Roles are the roles every embedded server has, in the order they are
// described.
var Roles = []string{RoleRiskd, RoleProducer, RoleCSM, RoleOperator}

// readOnlyAPI are the micro endpoints that change nothing.
var readOnlyAPI = []string{
	api.ServiceGroup + "." + api.EndpointCustomerGet,
	api.ServiceGroup + "." + api.EndpointCustomerList,
	api.ServiceGroup + "." + api.EndpointExplain,
	api.ServiceGroup + "." + api.EndpointOutcomes,
	api.ServiceGroup + "." + api.EndpointChurn,
}

// InboxPrefix is the inbox prefix the clients of a role must use
// (nats.CustomInboxPrefix, `nats --inbox-prefix`): replies land under
// their own subscribe right, and no role but riskd and operator can read
// another's replies. Empty for roles that may read every inbox.
func InboxPrefix(role string) string {
	if role == RoleRiskd || role == RoleOperator {
		return ""
	}
	return "_INBOX." + role
}

// Permissions are the server-enforced rights of a role; nil means
// everything (operator). owner roles ("csm-alice") are CSMs limited to
// one owner's alerts, acks and snoozes.
func Permissions(role string) *server.Permissions {
	allow := func(s ...string) *server.SubjectPermission { return &server.SubjectPermission{Allow: s} }
	switch {
	case role == RoleRiskd:
		return &server.Permissions{
			Publish:   allow("risk.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>", "$O.>"),
			Subscribe: allow("risk.>", "$SRV.>", "_INBOX.>"),
			// Answers to requests, on the reply subject the requester chose.
			// Up to 1024 messages: a partition owner answers a forwarded
			// request in parts when it is large (internal/cluster).
			Response: &server.ResponsePermission{MaxMsgs: 1024, Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION},
		}
	case role == RoleProducer:
		return &server.Permissions{
			Publish:   allow("risk.signals.>", "risk.customers.>"),
			Subscribe: allow(InboxPrefix(role) + ".>"),
		}
	case role == RoleCSM:
		return &server.Permissions{
			Publish: allow(append(slices.Clone(readOnlyAPI),
				api.ServiceGroup+"."+api.EndpointAlertAck, api.ServiceGroup+"."+api.EndpointCustomerSnooze)...),
			Subscribe: allow(alerting.SubjectPrefix+">", alerting.DigestPrefix+">", InboxPrefix(role)+".>"),
		}
	case strings.HasPrefix(role, OwnerRolePrefix):
		tok := strings.TrimPrefix(role, OwnerRolePrefix)
		return &server.Permissions{
			Publish: allow(append(slices.Clone(readOnlyAPI),
				OwnerSubject(api.EndpointAlertAck, tok), OwnerSubject(api.EndpointCustomerSnooze, tok))...),
			Subscribe: allow(alerting.SubjectPrefix+"*."+tok+".>", alerting.DigestPrefix+tok, InboxPrefix(role)+".>"),
		}
	}
	return nil // operator: everything
}

// OwnerSubject is the subject of an owner-scoped write endpoint: the
// server lets only that owner's CSM user publish on it, and riskd checks
// that the customer is the owner's (risk.api.alert.ack.<owner-token>).
func OwnerSubject(endpoint, ownerToken string) string {
	return api.ServiceGroup + "." + endpoint + "." + ownerToken
}

// ownerName is what may follow "csm-": a subject token that is its own
// owner (alerting's owner token of it is itself).
var ownerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckOwner reports an owner that cannot have a CSM user.
func CheckOwner(owner string) error {
	if !ownerName.MatchString(owner) {
		return fmt.Errorf("CSM owner %q: want 1-64 of [A-Za-z0-9_-], the owner as it appears in profiles", owner)
	}
	return nil
}

// Credentials are the password of each user, by user name.
type Credentials map[string]string

// PasswordFile is where the password of user is kept under dir.
func PasswordFile(dir, user string) string { return filepath.Join(dir, user+".password") }

// EnsureCredentials reads the password of every role and of the CSM user
// of every owner from dir, creating the missing ones (0600 files in a
// 0700 directory). created names the users whose password is new.
func EnsureCredentials(dir string, owners []string) (creds Credentials, created []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("credentials directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("credentials directory: %w", err)
	}
	users := slices.Clone(Roles)
	for _, o := range owners {
		if err := CheckOwner(o); err != nil {
			return nil, nil, err
		}
		users = append(users, OwnerRolePrefix+o)
	}
	creds = Credentials{}
	for _, u := range users {
		path := PasswordFile(dir, u)
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			pw := strings.TrimSpace(string(data))
			if len(pw) < 16 {
				return nil, nil, fmt.Errorf("%s: a password of at least 16 characters is required", path)
			}
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				return nil, nil, fmt.Errorf("%s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
			}
			creds[u] = pw
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("read credentials: %w", err)
		}
		pw, err := newPassword()
		if err != nil {
			return nil, nil, err
		}
		if err := writeSecret(path, pw); err != nil {
			return nil, nil, err
		}
		creds[u] = pw
		created = append(created, u)
	}
	return creds, created, nil
}

// newPassword is 32 random bytes in hex: safe in URLs, shells and NATS
// config files.
func newPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeSecret writes a new file readable by its owner only, atomically.
func writeSecret(path, secret string) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, time.Now().UnixNano())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	_, werr := f.WriteString(secret + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write credentials %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// users are the server's users for creds, each with its role's rights.
func (c Credentials) users() []*server.User {
	names := make([]string, 0, len(c))
	for u := range c {
		names = append(names, u)
	}
	slices.Sort(names)
	out := make([]*server.User, 0, len(names))
	for _, u := range names {
		out = append(out, &server.User{Username: u, Password: c[u], Permissions: Permissions(u)})
	}
	return out
}

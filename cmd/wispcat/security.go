package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wispmq/wisp/socket"
)

// checkSecurityFlags returns what is wrong with the ZMTP security flags
// given (set names those on the command line), or "".
func checkSecurityFlags(cfg *config, set map[string]bool) string {
	curve := set["curve-secret"] || set["curve-server"] || set["curve-serverkey"] || set["curve-allow"]
	plain := set["plain-user"] || set["plain-password"] || set["plain-allow"]
	switch {
	case (curve || plain) && cfg.protocol != socket.ZMTP:
		return "the -curve and -plain flags need -protocol zmtp"
	case curve && plain:
		return "choose CURVE or PLAIN, not both"
	case curve && cfg.curveSecret == "":
		return "CURVE needs -curve-secret"
	case cfg.curveServer && set["curve-serverkey"]:
		return "-curve-serverkey is a client's, not a -curve-server's"
	case curve && !cfg.curveServer && cfg.curveServerKey == "":
		return "a CURVE client needs -curve-serverkey (or -curve-server to be the server)"
	case set["curve-allow"] && !cfg.curveServer:
		return "-curve-allow is a -curve-server's"
	case plain && set["plain-allow"] && (set["plain-user"] || set["plain-password"]):
		return "-plain-allow makes a PLAIN server; -plain-user and -plain-password a client"
	case plain && !set["plain-allow"] && !set["plain-user"]:
		return "a PLAIN client needs -plain-user"
	}
	if cfg.curveSecret != "" {
		if _, err := socket.CurvePublicKey(cfg.curveSecret); err != nil {
			return "-curve-secret: not a CURVE secret key (40 characters of Z85)"
		}
	}
	for _, up := range cfg.plainAllow {
		if !strings.Contains(up, ":") {
			return fmt.Sprintf("-plain-allow %q: want USER:PASSWORD", up)
		}
	}
	return ""
}

// security makes the Security the flags ask for; ok is false for none.
func security(cfg *config) (socket.Security, bool) {
	switch {
	case cfg.curveSecret != "" && cfg.curveServer:
		var auth socket.Authenticator
		if len(cfg.curveAllow) > 0 {
			allowed := slices.Clone(cfg.curveAllow)
			auth = func(_ context.Context, r socket.AuthRequest) (string, error) {
				if !slices.Contains(allowed, r.PublicKey) {
					return "", fmt.Errorf("client key %s is not in -curve-allow", r.PublicKey)
				}
				return "", nil
			}
		}
		return socket.CurveServer(cfg.curveSecret, auth), true
	case cfg.curveSecret != "":
		public, _ := socket.CurvePublicKey(cfg.curveSecret) // checked by checkSecurityFlags
		return socket.CurveClient(cfg.curveServerKey, public, cfg.curveSecret), true
	case len(cfg.plainAllow) > 0:
		allowed := slices.Clone(cfg.plainAllow)
		return socket.PlainServer(func(_ context.Context, r socket.AuthRequest) (string, error) {
			if !slices.Contains(allowed, r.Username+":"+r.Password) {
				return "", fmt.Errorf("user %q with that password is not in -plain-allow", r.Username)
			}
			return "", nil
		}), true
	case cfg.plainUser != "":
		return socket.PlainClient(cfg.plainUser, cfg.plainPassword), true
	}
	return socket.Security{}, false
}

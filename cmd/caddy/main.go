// Command caddy is Caddy with its standard modules and bbb_balance, for
// development, CI and benchmarks. Production builds may use xcaddy instead.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/bbb-balance/bbb_balance"
)

func main() {
	caddycmd.Main()
}

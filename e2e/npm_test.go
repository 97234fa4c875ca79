package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestNpmClient runs the real npm client bigbluebutton-js against the
// balancer. scripts/test.sh installs it (npm install in e2e/npm) and sets
// BBB_REQUIRE_NPM=1, so there a missing client is a failure, not a skip.
func TestNpmClient(t *testing.T) {
	if _, err := os.Stat(filepath.Join("npm", "node_modules", "bigbluebutton-js")); err != nil {
		if os.Getenv("BBB_REQUIRE_NPM") != "" {
			t.Fatal("bigbluebutton-js is not installed in e2e/npm (run: npm install --prefix e2e/npm --no-package-lock)")
		}
		t.Skip("bigbluebutton-js not installed; scripts/test.sh installs it")
	}
	startPool(t, 3, "")
	out, err := exec.Command("node", filepath.Join("npm", "client.js"), base, lbSecret).CombinedOutput()
	t.Logf("bigbluebutton-js:\n%s", out)
	if err != nil {
		t.Fatalf("the npm client failed: %v", err)
	}
}

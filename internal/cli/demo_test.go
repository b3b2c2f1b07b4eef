package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the tour exactly as the README's first command does and checks that every stage
// reported success: pipeline, approval, deployment and a plausible prediction.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: the demo runs the whole story")
	}
	var out bytes.Buffer
	code := Run(context.Background(), []string{"demo", "--dir", t.TempDir()}, &out, &out)
	t.Logf("%s", out.String())
	if code != 0 {
		t.Fatalf("sluice demo exited %d", code)
	}
	for _, want := range []string{
		"RegisterAbaloneModel-RegisterModel   Succeeded",
		"outcome True",
		"PendingManualApproval → Approved",
		"gate ",
		"CANARY traffic steps [50 100]% Succeeded; released — prod: v2 on abalone-prod, staging: v2 on abalone-staging",
		"predicted rings",
		"execution Failed before the gate; production untouched",
		"deployment RolledBack by abalone-prod-model-errors",
		"20 of 20 requests after it answered by it",
		"Everything ran for real",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

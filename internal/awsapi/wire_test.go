package awsapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTimeRoundTrip(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{"integer seconds", `1632260141`, time.Unix(1632260141, 0)},
		{"fraction", `1632260141.95`, time.Unix(1632260141, 950_000_000)},
		{"rfc3339 string", `"2021-09-21T21:35:41Z"`, time.Unix(1632260141, 0)},
		{"numeric string", `"1632260141.5"`, time.Unix(1632260141, 500_000_000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Time
			if err := json.Unmarshal([]byte(tc.in), &got); err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got.Time, tc.want)
			}
			b, _ := json.Marshal(got)
			var back Time
			json.Unmarshal(b, &back)
			if !back.Equal(got.Time) {
				t.Fatalf("round trip %s -> %v", b, back.Time)
			}
			if strings.Contains(string(b), `"`) {
				t.Fatalf("timestamps must be JSON numbers, got %s", b)
			}
		})
	}
	var bad Time
	if err := json.Unmarshal([]byte(`"yesterday"`), &bad); err == nil {
		t.Fatal("accepted a nonsense timestamp")
	}
}

func TestPageToken(t *testing.T) {
	tok := PageToken{Sort: "abc", ID: "7", Query: "q1"}.Encode()
	got, err := DecodePageToken(tok, "q1")
	if err != nil || got.Sort != "abc" || got.ID != "7" {
		t.Fatalf("decode: %+v %v", got, err)
	}
	if _, err := DecodePageToken(tok, "other filters"); err == nil {
		t.Fatal("a token was accepted with other filters")
	}
	if _, err := DecodePageToken("!!garbage", "q1"); err == nil {
		t.Fatal("garbage token accepted")
	}
	if p, err := DecodePageToken("", "q1"); p != nil || err != nil {
		t.Fatal("empty token is the first page")
	}
}

func TestValidatorMessages(t *testing.T) {
	var v Validator
	v.Required("ModelPackageGroupName", false)
	v.Length("ModelPackageGroupDescription", strings.Repeat("x", 1025), 0, 1024)
	v.Pattern("ModelPackageGroupName", "bad_name", NamePattern)
	v.Enum("ModelApprovalStatus", "Maybe", "Approved", "Rejected", "PendingManualApproval")
	err := v.Err()
	e, ok := AsError(err)
	if !ok || e.Code != CodeValidation || e.Status != 400 {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"4 validation errors detected", "'modelPackageGroupName' failed to satisfy constraint: Member must not be null",
		"length less than or equal to 1024", "regular expression pattern", "enum value set: [Approved, Rejected, PendingManualApproval]"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q:\n%s", want, e.Message)
		}
	}
	var ok2 Validator
	ok2.Range("maxResults", 5, 1, 100)
	if ok2.Err() != nil {
		t.Fatal("valid value refused")
	}
}

func TestARNs(t *testing.T) {
	a := ARNs{Region: "us-east-1", AccountID: "000000000000"}
	arn := a.For("model-package-group", "Abalone")
	if arn != "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/abalone" {
		t.Fatal(arn)
	}
	p, ok := ParseARN(arn)
	if !ok || p.Kind() != "model-package-group" || p.Name() != "abalone" || p.AccountID != "000000000000" {
		t.Fatalf("%+v", p)
	}
	if _, ok := ParseARN("abalone"); ok {
		t.Fatal("a name parsed as an ARN")
	}
}

package xgboost

import (
	"strings"
	"testing"
)

func TestUBJSONToJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"empty object", "{}", "{}", ""},
		{"string value", "{i\x01aSi\x02hi}", `{"a":"hi"}`, ""},
		{"all scalar types", "[Z T F i\xff U\xff I\x01\x00 l\x00\x01\x00\x00 L\x00\x00\x00\x01\x00\x00\x00\x00 d\x3f\xc0\x00\x00 D\x3f\xf8\x00\x00\x00\x00\x00\x00 Cx]",
			`[null,true,false,-1,255,256,65536,4294967296,1.5,1.5,"x"]`, ""},
		{"no-ops are skipped", "N[Ni\x01N]N", `[1]`, ""},
		{"typed float32 array", "[$d#i\x02\x3e\x0c\x8c\x8d\xbf\x80\x00\x00", `[0.13725491,-1]`, ""},
		{"typed int32 array", "[$l#U\x02\xff\xff\xff\xff\x7f\xff\xff\xff", `[-1,2147483647]`, ""},
		{"typed uint8 array", "[$U#i\x03\x00\x01\x00", `[0,1,0]`, ""},
		{"counted array", "[#i\x02i\x01Si\x01z", `[1,"z"]`, ""},
		{"counted object", "{#i\x01i\x01kT", `{"k":true}`, ""},
		{"typed object", "{$i#i\x02i\x01a\x01i\x01b\x02", `{"a":1,"b":2}`, ""},
		{"high-precision number", "[Hi\x041e10]", `[1e10]`, ""},
		{"escaped key", "{i\x02a\"Z}", `{"a\"":null}`, ""},
		{"nested", "{i\x01a[{i\x01b[]}]}", `{"a":[{"b":[]}]}`, ""},
		{"truncated", "{i\x05ab", "", "unexpected end"},
		{"unterminated array", "[i\x01", "", "unexpected end"},
		{"count beyond data", "[$d#L\x00\x00\x00\x00\x7f\xff\xff\xff", "", "out of range"},
		{"typed count beyond data", "[$d#i\x03\x00", "", "exceeds"},
		{"negative length", "{i\xffa}", "", "out of range"},
		{"unknown marker", "[X]", "", "unknown type marker"},
		{"key length not an integer", "{Sa}", "", "integer type marker"},
		{"NaN", "[d\x7f\xc0\x00\x00]", "", "non-finite"},
		{"bad UTF-8", "[Si\x01\xff]", "", "UTF-8"},
		{"trailing data", "{}{}", "", "trailing"},
		{"bad high-precision number", "[Hi\x03abc]", "", "high-precision"},
		{"typed without count", "[$i]", "", "without a count"},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "", "too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.ReplaceAll(tt.in, " ", "")
			got, err := ubjsonToJSON([]byte(in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error mentioning %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

package awsapi

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Time is a timestamp on the JSON 1.1 wire: epoch seconds as a JSON number, fractions allowed.
// It also accepts an RFC 3339 string on input, which some hand-written clients send.
type Time struct{ time.Time }

// NewTime wraps t, dropping precision finer than a microsecond so values survive a round trip.
func NewTime(t time.Time) Time { return Time{t.Truncate(time.Microsecond)} }

// TimePtr returns a pointer to NewTime(t), or nil for the zero time, for optional fields.
func TimePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	v := NewTime(t)
	return &v
}

// MarshalJSON writes epoch seconds with up to microsecond fraction.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	us := t.UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac == 0 {
		return strconv.AppendInt(nil, sec, 10), nil
	}
	s := strconv.FormatFloat(float64(us)/1e6, 'f', 6, 64)
	return []byte(s), nil
}

// UnmarshalJSON reads epoch seconds (integer or fraction) or an RFC 3339 string.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			*t = fromEpoch(f)
			return nil
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q: expected epoch seconds or RFC 3339", s)
		}
		*t = NewTime(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s: expected epoch seconds", b)
	}
	*t = fromEpoch(f)
	return nil
}

func fromEpoch(f float64) Time {
	sec, frac := math.Modf(f)
	return NewTime(time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC())
}

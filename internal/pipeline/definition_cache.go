package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// CacheConfig turns on reuse of a previous successful run of the same step.
type CacheConfig struct {
	Enabled bool
	// ExpireAfter is an ISO 8601 duration ("PT12H", "P30D"); empty means no limit.
	ExpireAfter string
}

// Expiry returns how old a cached run may be, and false when there is no limit.
func (c CacheConfig) Expiry() (time.Duration, bool) {
	if c.ExpireAfter == "" {
		return 0, false
	}
	d, err := ParseISODuration(c.ExpireAfter)
	if err != nil {
		return 0, false
	}
	return d, true
}

func parseCacheConfig(m map[string]any) (CacheConfig, error) {
	var c CacheConfig
	switch e := m["Enabled"].(type) {
	case bool:
		c.Enabled = e
	case nil:
		return CacheConfig{}, locate("Enabled", errors.New("required boolean"))
	default:
		return CacheConfig{}, locate("Enabled", fmt.Errorf("want a boolean, got %s", describeKind(e)))
	}
	if v, present := m["ExpireAfter"]; present && v != nil {
		s, ok := v.(string)
		if !ok {
			return CacheConfig{}, locate("ExpireAfter", fmt.Errorf("want an ISO 8601 duration string, got %s", describeKind(v)))
		}
		if _, err := ParseISODuration(s); err != nil {
			return CacheConfig{}, locate("ExpireAfter", err)
		}
		c.ExpireAfter = s
	}
	return c, nil
}

// Calendar units have no fixed length; SageMaker's cache window is coarse, so a year is 365
// days and a month 30.
const (
	day   = 24 * time.Hour
	week  = 7 * day
	month = 30 * day
	year  = 365 * day
)

// ParseISODuration parses an ISO 8601 duration such as "PT12H", "P30D", "P1W", "P1DT2H30M" or
// "PT0.5S" (letters in either case). The short forms the SageMaker docs also show, "30d" and
// "T16m", are read as if they started with "P". Before the T, M is months; after it, minutes.
func ParseISODuration(s string) (time.Duration, error) {
	orig := s
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "P")
	if s == "" || s == "T" {
		return 0, fmt.Errorf("duration %q: want an ISO 8601 duration such as PT12H or P30D", orig)
	}
	var total float64
	inTime := false
	seen := ""
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("duration %q: T given twice", orig)
			}
			inTime = true
			s = s[1:]
			if s == "" {
				return 0, fmt.Errorf("duration %q: nothing after T", orig)
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == ',') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("duration %q: want <number><unit>", orig)
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(s[:i], ",", "."), 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: bad number %q", orig, s[:i])
		}
		unit := s[i]
		var d time.Duration
		switch {
		case !inTime && unit == 'Y':
			d = year
		case !inTime && unit == 'M':
			d = month
		case !inTime && unit == 'W':
			d = week
		case !inTime && unit == 'D':
			d = day
		case unit == 'H':
			d = time.Hour
		case inTime && unit == 'M':
			d = time.Minute
		case unit == 'S':
			d = time.Second
		default:
			return 0, fmt.Errorf("duration %q: unknown unit %q", orig, string(unit))
		}
		key := string(unit)
		if inTime {
			key = "T" + key
		}
		if strings.Contains(seen, "|"+key+"|") {
			return 0, fmt.Errorf("duration %q: unit %s given twice", orig, string(unit))
		}
		seen += "|" + key + "|"
		total += n * float64(d)
		if total > math.MaxInt64 {
			return 0, fmt.Errorf("duration %q: too long", orig)
		}
		s = s[i+1:]
	}
	return time.Duration(total), nil
}

// cacheKeyFields are the members of a step's arguments that identify its work, per SageMaker:
// outputs and resources are left out, so that a run whose output paths hold the execution id
// can still be reused by the next execution.
var cacheKeyFields = map[StepType][]string{
	StepProcessing: {"AppSpecification", "Environment", "ProcessingInputs"},
	StepTraining: {"AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig",
		"DebugRuleConfigurations", "Environment", "HyperParameters", "InputDataConfig"},
	StepTransform: {"DataProcessing", "Environment", "ModelName", "TransformInput"},
}

// CacheKey is the key under which a step run is cached: a hex SHA-256 over the step type, the
// identifying subset of its resolved arguments (all of them for types without a subset) in
// canonical JSON (sorted keys, numbers by value), and the digests of its code inputs' content,
// which the caller passes in a stable order.
func CacheKey(stepType StepType, resolvedArgs any, codeDigests ...string) string {
	args := resolvedArgs
	if fields, ok := cacheKeyFields[stepType]; ok {
		if m, isMap := resolvedArgs.(map[string]any); isMap {
			sub := map[string]any{}
			for _, f := range fields {
				if v, present := m[f]; present {
					sub[f] = v
				}
			}
			args = sub
		}
	}
	var b bytes.Buffer
	b.WriteString("sluice-step-cache-v1\n")
	b.WriteString(string(stepType))
	b.WriteByte('\n')
	writeCanonical(&b, args)
	for _, d := range codeDigests {
		b.WriteByte('\n')
		b.WriteString(d)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// writeCanonical writes v as JSON with sorted object keys and numbers in one form, so that
// equal values give equal bytes whichever Go types hold them.
func writeCanonical(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case string:
		q, _ := json.Marshal(t)
		b.Write(q)
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(t) {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			writeCanonical(b, t[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, el := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, el)
		}
		b.WriteByte(']')
	default:
		if n, ok := toNumber(v); ok {
			if n.isInt {
				b.WriteString(strconv.FormatInt(n.i, 10))
			} else if n.f == math.Trunc(n.f) && math.Abs(n.f) < 1<<53 {
				b.WriteString(strconv.FormatInt(int64(n.f), 10))
			} else {
				b.WriteString(strconv.FormatFloat(n.f, 'g', -1, 64))
			}
			return
		}
		// A typed value (a struct, a typed map): bring it to the JSON data model first.
		jv, err := ToJSONValue(v)
		if err != nil {
			fmt.Fprintf(b, "%q", fmt.Sprintf("%#v", v))
			return
		}
		writeCanonical(b, jv)
	}
}

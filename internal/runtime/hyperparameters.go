package runtime

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// reservedHyperParameters are the keys SageMaker's training toolkit consumes
// itself; they are never passed to the user's script.
var reservedHyperParameters = []string{
	"sagemaker_program",
	"sagemaker_submit_directory",
	"sagemaker_region",
	"sagemaker_container_log_level",
	"sagemaker_job_name",
	"sagemaker_enable_cloudwatch_metrics",
	"sagemaker_s3_output",
	"_tuning_objective_metric",
}

// isReservedHyperParameter reports whether a hyperparameter belongs to the
// training toolkit rather than to the user's script: the reserved keys and any
// other sagemaker_* key (the toolkit's "additional framework parameters").
func isReservedHyperParameter(key string) bool {
	return slices.Contains(reservedHyperParameters, key) || strings.HasPrefix(key, "sagemaker_")
}

// decodeHyperParameter decodes a hyperparameter value as the training toolkit
// does: as JSON when it parses ("\"train.py\"" is train.py, "50" is a number),
// else as the raw string ("reg:linear"). Numbers keep their text.
func decodeHyperParameter(raw string) any {
	if !json.Valid([]byte(raw)) {
		return raw
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	return v
}

// decodeHyperParameters decodes every value (see the training toolkit's
// json.loads) and splits user hyperparameters from the toolkit's own.
func decodeHyperParameters(hps map[string]string) (user, framework map[string]any) {
	user, framework = map[string]any{}, map[string]any{}
	for k, raw := range hps {
		if isReservedHyperParameter(k) {
			framework[k] = decodeHyperParameter(raw)
		} else {
			user[k] = decodeHyperParameter(raw)
		}
	}
	return user, framework
}

// userArgs returns the user hyperparameters as script arguments, sorted by name:
// "--name value", with values written as Python's str() would write the decoded
// value (the toolkit passes str(value)), and maps as "k=v,k2=v2".
func userArgs(hps map[string]string) []string {
	user, _ := decodeHyperParameters(hps)
	args := make([]string, 0, 2*len(user))
	for _, k := range slices.Sorted(maps.Keys(user)) {
		args = append(args, "--"+k, argValue(user[k]))
	}
	return args
}

func argValue(v any) string {
	if m, ok := v.(map[string]any); ok {
		items := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			items = append(items, k+"="+pyStr(m[k]))
		}
		return strings.Join(items, ",")
	}
	return pyStr(v)
}

// pyStr is Python's str() of a decoded JSON value.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a decoded JSON value.
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case json.Number:
		return v.String()
	case string:
		return pyQuote(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, pyQuote(k)+": "+pyRepr(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// pyQuote quotes a string the way Python's repr does for printable text.
func pyQuote(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b bytes.Buffer
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

package awsapi

import (
	"encoding/base64"
	"encoding/json"
)

// PageToken is the decoded NextToken of a list operation. Lists page by keyset (the sort value
// and a unique id of the last row returned), so a page boundary stays put while rows are added.
type PageToken struct {
	// Sort is the last row's sort key (a name or a time in nanoseconds, as text).
	Sort string `json:"s"`
	// ID is the last row's unique id, breaking ties between equal sort keys.
	ID string `json:"i"`
	// Query is a digest of the list's filters; a token used with other filters is refused.
	Query string `json:"q,omitempty"`
}

// Encode returns the opaque NextToken string.
func (p PageToken) Encode() string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodePageToken parses a NextToken. An empty token is the first page (nil).
func DecodePageToken(s, query string) (*PageToken, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var p PageToken
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.Query != query {
		return nil, Validation("Invalid pagination token: NextToken %.40q was not issued by this list with these filters; start again without NextToken.", s)
	}
	return &p, nil
}

// MaxResults validates a MaxResults value against [1, limit] and applies the default.
func MaxResults(v *int32, def, limit int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 || int(*v) > limit {
		return 0, FieldError("maxResults", *v, "Member must have value between 1 and %d", limit)
	}
	return int(*v), nil
}

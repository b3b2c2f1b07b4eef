package promotion

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed schedule expression, in EventBridge's forms: rate(N unit) fires every N
// minutes, hours or days; cron(minutes hours day-of-month month day-of-week [year]) fires at
// matching minutes in UTC. With six fields, day-of-week runs 1-7 from Sunday, as in
// EventBridge; with five it runs 0-6 from Sunday, as in Unix cron. Fields take *, ?, numbers,
// names (JAN-DEC, SUN-SAT), lists a,b, ranges a-b and steps */n or a-b/n.
type Schedule struct {
	every time.Duration
	cron  *cronSpec
}

type cronSpec struct {
	minute, hour, dom, month, dow, year set
	domAny, dowAny                      bool
}

// set is a bitmask of allowed values, or nil for any (the year field).
type set map[int]bool

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

// ParseSchedule reads rate(...) or cron(...).
func ParseSchedule(expr string) (Schedule, error) {
	e := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(e, "rate(") && strings.HasSuffix(e, ")"):
		f := strings.Fields(e[5 : len(e)-1])
		if len(f) != 2 {
			return Schedule{}, fmt.Errorf("schedule %q: want rate(N minutes|hours|days)", expr)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 {
			return Schedule{}, fmt.Errorf("schedule %q: the rate must be a whole number ≥ 1", expr)
		}
		unit := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}[f[1]]
		if unit == 0 {
			return Schedule{}, fmt.Errorf("schedule %q: the unit is minute(s), hour(s) or day(s)", expr)
		}
		return Schedule{every: time.Duration(n) * unit}, nil
	case strings.HasPrefix(e, "cron(") && strings.HasSuffix(e, ")"):
		c, err := parseCron(strings.Fields(e[5 : len(e)-1]))
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: %w", expr, err)
		}
		return Schedule{cron: c}, nil
	}
	return Schedule{}, fmt.Errorf("schedule %q: want rate(N unit) or cron(minutes hours day-of-month month day-of-week [year])", expr)
}

func parseCron(f []string) (*cronSpec, error) {
	if len(f) != 5 && len(f) != 6 {
		return nil, fmt.Errorf("a cron expression has 5 or 6 fields, this one has %d", len(f))
	}
	eventBridge := len(f) == 6
	c := &cronSpec{}
	var err error
	if c.minute, err = parseField(f[0], 0, 59, nil, 0); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if c.hour, err = parseField(f[1], 0, 23, nil, 0); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	c.domAny = f[2] == "*" || f[2] == "?"
	if c.dom, err = parseField(f[2], 1, 31, nil, 0); err != nil {
		return nil, fmt.Errorf("day-of-month: %w", err)
	}
	if c.month, err = parseField(f[3], 1, 12, monthNames, 0); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	c.dowAny = f[4] == "*" || f[4] == "?"
	lo, hi, shift := 0, 7, 0
	if eventBridge {
		lo, hi, shift = 1, 7, 1 // 1 is Sunday; names map to 0-6 and shift by one
	}
	if c.dow, err = parseField(f[4], lo, hi, dayNames, shift); err != nil {
		return nil, fmt.Errorf("day-of-week: %w", err)
	}
	// Normalise to time.Weekday (0 = Sunday).
	dow := set{}
	for d := range c.dow {
		if eventBridge {
			d--
		}
		dow[d%7] = true
	}
	c.dow = dow
	if eventBridge && f[5] != "*" && f[5] != "?" {
		if c.year, err = parseField(f[5], 1970, 2199, nil, 0); err != nil {
			return nil, fmt.Errorf("year: %w", err)
		}
	}
	return c, nil
}

func parseField(f string, lo, hi int, names map[string]int, shift int) (set, error) {
	out := set{}
	for _, part := range strings.Split(f, ",") {
		step := 1
		if i := strings.IndexByte(part, '/'); i >= 0 {
			n, err := strconv.Atoi(part[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("step %q is not a whole number ≥ 1", part[i+1:])
			}
			step, part = n, part[:i]
		}
		a, b := lo, hi
		if part != "*" && part != "?" {
			from, to, isRange := strings.Cut(part, "-")
			var err error
			if a, err = fieldValue(from, names, shift); err != nil {
				return nil, err
			}
			b = a
			if isRange {
				if b, err = fieldValue(to, names, shift); err != nil {
					return nil, err
				}
			} else if step > 1 {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return nil, fmt.Errorf("%q is outside %d-%d", part, lo, hi)
		}
		for v := a; v <= b; v += step {
			out[v] = true
		}
	}
	return out, nil
}

func fieldValue(s string, names map[string]int, shift int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v + shift, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number or a name", s)
	}
	return n, nil
}

// Next is the first firing strictly after t.
func (s Schedule) Next(t time.Time) time.Time {
	t = t.UTC()
	if s.every > 0 {
		return t.Truncate(time.Minute).Add(s.every)
	}
	c := s.cron
	n := t.Truncate(time.Minute).Add(time.Minute)
	limit := n.AddDate(5, 0, 0)
	for n.Before(limit) {
		if c.year != nil && !c.year[n.Year()] {
			n = time.Date(n.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.month[int(n.Month())] {
			n = time.Date(n.Year(), n.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(n) {
			n = time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.hour[n.Hour()] {
			n = time.Date(n.Year(), n.Month(), n.Day(), n.Hour()+1, 0, 0, 0, time.UTC)
			continue
		}
		if !c.minute[n.Minute()] {
			n = n.Add(time.Minute)
			continue
		}
		return n
	}
	return time.Time{}
}

// dayMatches applies cron's rule: when both day fields are restricted, either may match.
func (c *cronSpec) dayMatches(t time.Time) bool {
	dom, dow := c.dom[t.Day()], c.dow[int(t.Weekday())]
	switch {
	case c.domAny && c.dowAny:
		return true
	case c.domAny:
		return dow
	case c.dowAny:
		return dom
	}
	return dom || dow
}

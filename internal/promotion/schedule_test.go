package promotion

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	from := at("2026-03-14T10:17:42Z") // a Saturday
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"rate minutes", "rate(5 minutes)", "2026-03-14T10:22:00Z"},
		{"rate one hour", "rate(1 hour)", "2026-03-14T11:17:00Z"},
		{"rate days", "rate(2 days)", "2026-03-16T10:17:00Z"},
		{"every minute", "cron(* * * * *)", "2026-03-14T10:18:00Z"},
		{"step minutes", "cron(*/15 * * * *)", "2026-03-14T10:30:00Z"},
		{"daily at 02:30", "cron(30 2 * * *)", "2026-03-15T02:30:00Z"},
		{"unix weekdays", "cron(0 9 * * 1-5)", "2026-03-16T09:00:00Z"},
		{"eventbridge weekdays by name", "cron(0 9 ? * MON-FRI *)", "2026-03-16T09:00:00Z"},
		{"eventbridge sunday is 1", "cron(0 12 ? * 1 *)", "2026-03-15T12:00:00Z"},
		{"first of the month", "cron(0 0 1 * ? *)", "2026-04-01T00:00:00Z"},
		{"month names and lists", "cron(0 6 1 JAN,JUL ? *)", "2026-07-01T06:00:00Z"},
		{"a later year", "cron(0 0 1 1 ? 2028)", "2028-01-01T00:00:00Z"},
		{"both days restricted match either", "cron(0 0 20 * 1)", "2026-03-16T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSchedule(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(at(tc.want)) {
				t.Fatalf("Next(%s) = %s, want %s", from, got.Format(time.RFC3339), tc.want)
			}
		})
	}
	for _, bad := range []string{"", "every 5 minutes", "rate(0 minutes)", "rate(5 weeks)", "cron(* * *)", "cron(60 * * * *)", "cron(0 0 32 * *)",
		"cron(0 0 * FOO *)", "cron(*/0 * * * *)", "cron(0 0 ? * 8 *)"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}

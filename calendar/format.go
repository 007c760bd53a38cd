package calendar

import (
	"fmt"
	"time"
)

// phrasing is how one language names a day and a time.
type phrasing struct {
	weekdays [7]string // Sunday first
	months   [12]string
	layout   func(weekday string, day int, month, clock string) string
}

// phrasings holds the languages automated_message_texts has texts in.
var phrasings = map[string]phrasing{
	"en": {
		[7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		[12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		func(w string, d int, m, c string) string { return fmt.Sprintf("%s %d %s at %s", w, d, m, c) },
	},
	"nl": {
		[7]string{"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"},
		[12]string{"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"},
		func(w string, d int, m, c string) string { return fmt.Sprintf("%s %d %s om %s", w, d, m, c) },
	},
	"de": {
		[7]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
		[12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
		func(w string, d int, m, c string) string { return fmt.Sprintf("%s, %d. %s um %s", w, d, m, c) },
	},
	"fr": {
		[7]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
		[12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
		func(w string, d int, m, c string) string { return fmt.Sprintf("%s %d %s à %s", w, d, m, c) },
	},
	"es": {
		[7]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
		[12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
		func(w string, d int, m, c string) string { return fmt.Sprintf("%s %d de %s a las %s", w, d, m, c) },
	},
}

// FormatOpening names an opening for the customer in a language (ISO 639-1;
// English when the language has no phrasing), in the calendar's zone:
// "Tuesday 8 December at 09:00" (the zone's abbreviation follows, e.g. CET, so a
// customer elsewhere knows whose 09:00 it is).
func FormatOpening(at time.Time, loc *time.Location, language string) string {
	p, ok := phrasings[language]
	if !ok {
		p = phrasings["en"]
	}
	local := at.In(loc)
	zone, _ := local.Zone()
	return p.layout(p.weekdays[local.Weekday()], local.Day(), p.months[local.Month()-1], local.Format("15:04")) + " (" + zone + ")"
}

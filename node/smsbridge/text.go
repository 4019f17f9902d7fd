package smsbridge

import (
	"fmt"
	"strings"
	"time"

	"github.com/takecare-network/takecare/node"
)

// replies are the bridge's answers to members, without accents so that
// they fit one SMS in the GSM alphabet.
var replies = map[string]map[string]string{
	"es": {
		"help":            "takecare: PANICO codigo | SALGO a Lugar 18:00 codigo | LLEGUE codigo | VISTO codigo (o VOY, NO PUEDO). El codigo va al final.",
		"bad_code":        "takecare: codigo incorrecto. Nada se envio.",
		"panic_sent":      "takecare: PANICO enviado a tu grupo.",
		"checkin_started": "takecare: aviso de traslado enviado. Manda LLEGUE y tu codigo al llegar.",
		"arrived":         "takecare: llegada avisada a tu grupo.",
		"acked":           "takecare: respuesta enviada.",
		"no_checkin":      "takecare: no tienes un aviso de traslado abierto.",
		"no_message":      "takecare: no encontre esa alerta.",
		"bad_time":        "takecare: esa hora esta a mas de 7 dias.",
		"failed":          "takecare: no se pudo enviar. Intenta otra vez.",
	},
	"en": {
		"help":            "takecare: PANIC code | LEAVING to Place 18:00 code | ARRIVED code | SEEN code (or COMING, UNABLE). The code goes last.",
		"bad_code":        "takecare: wrong code. Nothing was sent.",
		"panic_sent":      "takecare: PANIC sent to your group.",
		"checkin_started": "takecare: check-in sent. Send ARRIVED and your code when you get there.",
		"arrived":         "takecare: your group was told you arrived.",
		"acked":           "takecare: answer sent.",
		"no_checkin":      "takecare: you have no open check-in.",
		"no_message":      "takecare: that alert was not found.",
		"bad_time":        "takecare: that time is more than 7 days ahead.",
		"failed":          "takecare: could not send. Try again.",
	},
}

var kindWords = map[string]map[string]string{
	"es": {"panic": "PANICO", "duress": "BAJO AMENAZA", "overdue": "NO HA LLEGADO", "danger": "PELIGRO", "threat": "AMENAZA",
		"violence": "VIOLENCIA", "detention": "DETENCION", "disappearance": "DESAPARICION", "checkpoint": "RETEN",
		"surveillance": "VIGILANCIA", "medical": "EMERGENCIA MEDICA", "info": "AVISO"},
	"en": {"panic": "PANIC", "duress": "UNDER THREAT", "overdue": "OVERDUE", "danger": "DANGER", "threat": "THREAT",
		"violence": "VIOLENCE", "detention": "DETENTION", "disappearance": "DISAPPEARANCE", "checkpoint": "CHECKPOINT",
		"surveillance": "SURVEILLANCE", "medical": "MEDICAL", "info": "INFO"},
}

// Compose writes the SMS a safe line receives for an entry, with as much
// as content allows (ContentNone, ContentShort or ContentFull), in lang
// (es or en), times in loc.
func Compose(e node.Entry, content, lang string, loc *time.Location) string {
	if lang != "en" {
		lang = "es"
	}
	if content == ContentNone {
		if lang == "es" {
			return "takecare: alerta urgente en tu grupo. Abre la aplicacion."
		}
		return "takecare: urgent alert in your group. Open the app."
	}
	kind := kindWords[lang][e.Kind]
	if kind == "" {
		kind = strings.ToUpper(e.Kind)
	}
	place := e.Place
	if place == "" && e.Notice != nil {
		place = e.Notice.To
	}
	at := e.Created.In(loc).Format("15:04")
	parts := []string{"takecare " + kind}
	if content == ContentFull {
		who := e.Author
		if e.Subject != "" {
			who = e.Subject
		} else if e.Notice != nil && e.Notice.Who != "" {
			who = e.Notice.Who
		}
		parts = append(parts, who)
	}
	if place != "" {
		parts = append(parts, place)
	}
	parts = append(parts, at)
	s := strings.Join(parts, ", ")
	if content == ContentFull && e.Text != "" {
		s += ": " + e.Text
	}
	if e.Via != nil && content == ContentFull {
		s += fmt.Sprintf(" (SMS via %s)", e.Via.Bridge)
	}
	return s
}

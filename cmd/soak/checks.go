package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// invariant is one line of the table: a count that must be zero (mustBeZero) or
// one that is only reported.
type invariant struct {
	name       string
	value      int
	mustBeZero bool
	extra      bool // not in the list; checked because it is the same promise
	detail     []string
}

type result struct {
	loadStart, sendEnd, ackedAt, quietAt time.Time
	settled                              bool

	rows       []invariant
	violations int
	// workflows names the conversation workflows involved in broken invariants,
	// whose histories saveEvidence exports.
	workflows map[string]string // workflow id -> why

	acked, unacked, recorded int
	recordedFirst, lastRow   time.Time
	sentReplies, simSends    int
	checkErr                 []string
}

func (r *result) add(inv invariant) {
	if inv.mustBeZero && inv.value != 0 {
		r.violations++
	}
	r.rows = append(r.rows, inv)
}

const maxDetail = 10

func clip(list []string) []string {
	if len(list) > maxDetail {
		return append(list[:maxDetail:maxDetail], fmt.Sprintf("... and %d more", len(list)-maxDetail))
	}
	return list
}

func (s *soak) check(ctx context.Context, r *result) {
	db := s.monitor.db
	acked, unacked := s.customers.snapshot()
	r.acked, r.unacked = len(acked), len(unacked)

	// 1. Customer messages: every acknowledged mid is in the transcript exactly once,
	// in a conversation of the customer who sent it.
	type row struct {
		n          int
		psids      []string
		firstAt    time.Time
		lastAt     time.Time
		convStatus string
	}
	got := map[string]*row{}
	rows, err := db.QueryContext(ctx, `SELECT m.facebook_message_id, cu.psid, m.created_at
		FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN customers cu ON cu.id = c.customer_id
		WHERE m.page_id = $1 AND m.direction = 'inbound' AND m.facebook_message_id LIKE $2`, s.pageID, "m_soak_"+s.runID+"_%")
	if err != nil {
		r.checkErr = append(r.checkErr, "reading messages: "+err.Error())
	} else {
		for rows.Next() {
			var mid, psid string
			var at time.Time
			if rows.Scan(&mid, &psid, &at) != nil {
				continue
			}
			g := got[mid]
			if g == nil {
				g = &row{}
				got[mid] = g
			}
			g.n++
			g.psids = append(g.psids, psid)
			if r.recordedFirst.IsZero() || at.Before(r.recordedFirst) {
				r.recordedFirst = at
			}
			if at.After(r.lastRow) {
				r.lastRow = at
			}
		}
		rows.Close()
	}
	r.recorded = len(got)
	var lost, dup, misfiled []string
	r.workflows = map[string]string{}
	wfID := func(psid string) string { return "conversation:" + s.pageID + ":" + psid }
	for mid, psid := range acked {
		g := got[mid]
		switch {
		case g == nil:
			lost = append(lost, fmt.Sprintf("%s (workflow %s)", mid, wfID(psid)))
			r.workflows[wfID(psid)] = "lost " + mid
		case g.n > 1:
			dup = append(dup, fmt.Sprintf("%s ×%d", mid, g.n))
		}
		if g != nil {
			for _, p := range g.psids {
				if p != psid {
					misfiled = append(misfiled, fmt.Sprintf("%s from %s recorded for %s", mid, psid, p))
				}
			}
		}
	}
	sort.Strings(lost)
	sort.Strings(dup)
	r.add(invariant{name: "customer messages lost (acknowledged 200, not in `messages`)", value: len(lost), mustBeZero: true, detail: clip(lost)})

	// Duplicates anywhere in the transcript, by Facebook message id and by event key.
	var dupAll int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM messages WHERE facebook_message_id IS NOT NULL
		GROUP BY page_id, facebook_message_id HAVING count(*) > 1) d`).Scan(&dupAll); err != nil {
		r.checkErr = append(r.checkErr, "counting duplicates: "+err.Error())
	}
	if dupAll > len(dup) {
		dup = append(dup, fmt.Sprintf("%d facebook_message_id values (any message) occur more than once", dupAll))
	}
	r.add(invariant{name: "messages duplicated in transcripts (facebook_message_id more than once)", value: max(len(dup), dupAll), mustBeZero: true, detail: clip(dup)})
	r.add(invariant{name: "customer messages recorded in another customer's conversation", value: len(misfiled), mustBeZero: true, extra: true, detail: clip(misfiled)})

	// 2. Replies: the simulator's log of Send API calls, by metadata (our message id).
	s.monitor.mu.Lock()
	sends := make([]simSend, 0, len(s.monitor.sends))
	for _, v := range s.monitor.sends {
		sends = append(sends, v)
	}
	s.monitor.mu.Unlock()
	r.simSends = len(sends)
	byMeta := map[string][]simSend{}
	for _, v := range sends {
		if v.metadata == "" {
			continue // not a reply of ours (none are expected)
		}
		byMeta[v.metadata] = append(byMeta[v.metadata], v)
	}
	// What the transcript says about every outbound message.
	outStatus := map[string]string{}
	outWhere := map[string]string{} // message id -> "conversation C (workflow W), created T"
	rows, err = db.QueryContext(ctx, `SELECT m.id, m.status, m.conversation_id, cu.psid, m.created_at FROM messages m
		JOIN conversations c ON c.id = m.conversation_id JOIN customers cu ON cu.id = c.customer_id
		WHERE m.page_id = $1 AND m.direction = 'outbound'`, s.pageID)
	if err != nil {
		r.checkErr = append(r.checkErr, "reading replies: "+err.Error())
	} else {
		for rows.Next() {
			var id, st, conv, psid string
			var at time.Time
			if rows.Scan(&id, &st, &conv, &psid, &at) == nil {
				outStatus[id] = st
				outWhere[id] = fmt.Sprintf("conversation %s, workflow %s, stored %s into the load", conv, wfID(psid), at.Sub(s.customers.start).Round(time.Millisecond))
			}
		}
		rows.Close()
	}
	var twice []string
	for meta, list := range byMeta {
		if len(list) > 1 {
			sort.Slice(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
			var ats []string
			for _, v := range list {
				ats = append(ats, v.at.Sub(s.customers.start).Round(time.Millisecond).String())
			}
			twice = append(twice, fmt.Sprintf("message %s sent %d times (at %s after the load started; %s)", meta, len(list), strings.Join(ats, ", "), outWhere[meta]))
			if w := outWhere[meta]; strings.Contains(w, "workflow ") {
				r.workflows[strings.SplitN(w[strings.Index(w, "workflow ")+9:], ",", 2)[0]] = "reply " + meta + " sent twice"
			}
		}
	}
	sort.Strings(twice)
	r.add(invariant{name: "replies sent twice (Send API calls with the same metadata)", value: len(twice), mustBeZero: true, detail: clip(twice)})

	var notRecorded []string
	for meta := range byMeta {
		switch outStatus[meta] {
		case "sent", "delivered", "read":
		case "":
			notRecorded = append(notRecorded, meta+": reached the customer, no row in `messages`")
		default:
			notRecorded = append(notRecorded, meta+": reached the customer, transcript says "+outStatus[meta])
		}
	}
	sort.Strings(notRecorded)
	r.add(invariant{name: "replies that reached the customer but whose transcript row is missing or not sent", value: len(notRecorded), mustBeZero: true, extra: true, detail: clip(notRecorded)})

	s.desk.mu.Lock()
	replies := append([]replyRecord(nil), s.desk.stats.replies...)
	agentOver := append([]string(nil), s.desk.stats.overCapacity...)
	s.desk.mu.Unlock()
	var missingAtFB []string
	for _, rp := range replies {
		if strings.HasSuffix(rp.outcome, " sent") {
			r.sentReplies++
			if len(byMeta[rp.messageID]) == 0 {
				missingAtFB = append(missingAtFB, fmt.Sprintf("%s (answered %q at %s)", rp.messageID, rp.outcome, rp.at.Round(time.Millisecond)))
			}
		}
	}
	r.add(invariant{name: "replies answered `sent` that never reached the Send API", value: len(missingAtFB), mustBeZero: true, extra: true, detail: clip(missingAtFB)})
	answeredSent := map[string]bool{}
	for _, rp := range replies {
		if strings.HasSuffix(rp.outcome, " sent") {
			answeredSent[rp.messageID] = true
		}
	}
	var unseen []string
	for meta := range byMeta {
		if !answeredSent[meta] {
			unseen = append(unseen, fmt.Sprintf("%s (%s)", meta, outWhere[meta]))
		}
	}
	sort.Strings(unseen)
	r.add(invariant{name: "replies that reached the customer although the agent's request failed (no answer, 5xx)", value: len(unseen), extra: true, detail: clip(unseen)})

	var stuck []string
	for id, st := range outStatus {
		if st == "sending" || st == "queued" {
			stuck = append(stuck, fmt.Sprintf("%s is %s (%s)", id, st, outWhere[id]))
			if w := outWhere[id]; w != "" {
				if i := strings.Index(w, "workflow "); i >= 0 {
					r.workflows[strings.SplitN(w[i+9:], ",", 2)[0]] = "reply " + id + " " + st
				}
			}
		}
	}
	sort.Strings(stuck)
	r.add(invariant{name: "replies never resolved (still `sending`/`queued` after settling)", value: len(stuck), mustBeZero: true, extra: true, detail: clip(stuck)})

	// 3. Assignments, replayed from the agents' event log (written in the same
	// transaction as each assignment and close, so its order is theirs).
	capacity := map[string]int{}
	if rows, err := db.QueryContext(ctx, `SELECT id, capacity FROM agents`); err == nil {
		for rows.Next() {
			var id string
			var c int
			if rows.Scan(&id, &c) == nil {
				capacity[id] = c
			}
		}
		rows.Close()
	}
	holder := map[string]string{} // conversation -> agent holding it
	load := map[string]int{}
	maxLoad := map[string]int{}
	var doubles, overByLog []string
	assignedEvents := 0
	rows, err = db.QueryContext(ctx, `SELECT id, agent_id, name, conversation_id FROM agent_events
		WHERE name IN ('conversation.assigned', 'conversation.closed', 'conversation.transferred') ORDER BY id`)
	if err != nil {
		r.checkErr = append(r.checkErr, "reading agent_events: "+err.Error())
	} else {
		for rows.Next() {
			var id int64
			var agentID, name, conv string
			if rows.Scan(&id, &agentID, &name, &conv) != nil {
				continue
			}
			switch name {
			case "conversation.assigned":
				assignedEvents++
				if h, ok := holder[conv]; ok {
					doubles = append(doubles, fmt.Sprintf("conversation %s assigned to agent %s (event %d) while assigned to agent %s", conv, agentID, id, h))
					load[h]--
				}
				holder[conv] = agentID
				load[agentID]++
				if load[agentID] > maxLoad[agentID] {
					maxLoad[agentID] = load[agentID]
				}
				if c, ok := capacity[agentID]; ok && load[agentID] > c {
					overByLog = append(overByLog, fmt.Sprintf("agent %s reached %d conversations (capacity %d) at event %d (conversation %s)", agentID, load[agentID], c, id, conv))
				}
			case "conversation.closed", "conversation.transferred":
				if h, ok := holder[conv]; ok {
					if h != agentID {
						doubles = append(doubles, fmt.Sprintf("conversation %s: %s announced to agent %s while held by %s (event %d)", conv, name, agentID, h, id))
					}
					load[h]--
					delete(holder, conv)
				}
			}
		}
		rows.Close()
	}
	// The replay must end where the conversations table is.
	var disagree []string
	if rows, err := db.QueryContext(ctx, `SELECT id, status, coalesce(agent_id::text, '') FROM conversations WHERE page_id = $1`, s.pageID); err == nil {
		for rows.Next() {
			var id, st, agentID string
			if rows.Scan(&id, &st, &agentID) != nil {
				continue
			}
			h := holder[id]
			if st == "assigned" && h != agentID {
				disagree = append(disagree, fmt.Sprintf("conversation %s is assigned to %q, the event log says %q", id, agentID, h))
			}
			if st != "assigned" && h != "" {
				disagree = append(disagree, fmt.Sprintf("conversation %s is %s, the event log says assigned to %s", id, st, h))
			}
		}
		rows.Close()
	}
	r.add(invariant{name: "conversations assigned twice (assigned while already assigned)", value: len(doubles), mustBeZero: true, detail: clip(doubles)})
	r.add(invariant{name: "assignment event log disagrees with `conversations` at the end", value: len(disagree), mustBeZero: true, extra: true, detail: clip(disagree)})

	s.monitor.mu.Lock()
	sampledOver := append([]string(nil), s.monitor.over...)
	samples, sampleErrs := s.monitor.samples, s.monitor.sampleErrs
	s.monitor.mu.Unlock()
	r.add(invariant{name: fmt.Sprintf("agents over capacity, sampled from Postgres every second (%d samples, %d missed while it restarted)", samples, sampleErrs),
		value: len(sampledOver), mustBeZero: true, detail: clip(sampledOver)})
	r.add(invariant{name: fmt.Sprintf("agents over capacity, replayed from the event log (%d assignments)", assignedEvents),
		value: len(overByLog), mustBeZero: true, detail: clip(overByLog)})
	r.add(invariant{name: "agents over capacity in their own GET /me/conversations", value: len(agentOver), mustBeZero: true, extra: true, detail: clip(agentOver)})

	// 4. Webhook acknowledgements.
	st := &s.customers.stats
	st.mu.Lock()
	non200 := st.attempts - st.ok
	var kinds []string
	for code, n := range st.byStatus {
		kinds = append(kinds, fmt.Sprintf("HTTP %d ×%d", code, n))
	}
	for what, n := range st.transport {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", what, n))
	}
	st.mu.Unlock()
	sort.Strings(kinds)
	r.add(invariant{name: "webhook POSTs not answered 200 (each retried with backoff)", value: non200, detail: kinds})
	if n, windows := s.non200DuringOutages(); len(windows) > 0 {
		r.add(invariant{name: fmt.Sprintf("webhook POSTs not answered 200 while Temporal was down (temporal-outage, until %s after it was back)", outageTail),
			value: n, mustBeZero: true, detail: windows})
	}
	sort.Strings(unacked)
	r.add(invariant{name: "customer messages never acknowledged 200 despite retries", value: len(unacked), mustBeZero: true, detail: clip(unacked)})

	// 5. The stack itself.
	s.monitor.mu.Lock()
	unexpected := append([]string(nil), s.monitor.unexpected...)
	s.monitor.mu.Unlock()
	r.add(invariant{name: "programs that exited without being stopped", value: len(unexpected), mustBeZero: true, extra: true, detail: unexpected})
	var stranded []string
	if rows, err := db.QueryContext(ctx, `SELECT c.id, cu.psid, c.status, coalesce(c.enqueued_at, c.opened_at) FROM conversations c
		JOIN customers cu ON cu.id = c.customer_id WHERE c.page_id = $1 AND c.status IN ('waiting', 'bot') ORDER BY 4`, s.pageID); err == nil {
		for rows.Next() {
			var id, psid, st string
			var since time.Time
			if rows.Scan(&id, &psid, &st, &since) == nil {
				stranded = append(stranded, fmt.Sprintf("conversation %s (%s since %s into the load, workflow %s)", id, st, since.Sub(s.customers.start).Round(time.Second), wfID(psid)))
				r.workflows[wfID(psid)] = "conversation " + id + " left " + st
			}
		}
		rows.Close()
	}
	r.add(invariant{name: "conversations left waiting in the queue after settling (agents had room)", value: len(stranded), mustBeZero: true, extra: true, detail: clip(stranded)})
}

// outageTail extends a Temporal outage's window past its restart: the relay's
// catch-up must not cost the webhook either.
const outageTail = 30 * time.Second

// non200DuringOutages counts the webhook's non-200 answers (HTTP errors and no
// answer at all) from the stop of Temporal by a temporal-outage fault until
// outageTail after it was ready again (or the next fault, whichever is first):
// the webhook needs only Postgres, so none is allowed.
func (s *soak) non200DuringOutages() (int, []string) {
	s.faults.mu.Lock()
	faults := append([]faultRecord(nil), s.faults.records...)
	s.faults.mu.Unlock()
	st := &s.customers.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	var total int
	var windows []string
	for i, f := range faults {
		if !f.outage {
			continue
		}
		from, to := f.at, f.at+f.downtime+outageTail
		if i+1 < len(faults) && faults[i+1].at < to {
			to = faults[i+1].at
		}
		n := 0
		for _, t := range st.non200Times {
			if t >= from && t < to {
				n++
			}
		}
		total += n
		windows = append(windows, fmt.Sprintf("Temporal down from %.0fs to %.0fs into the load (window to %.0fs): %d non-200",
			from.Seconds(), (f.at+f.downtime).Seconds(), to.Seconds(), n))
	}
	return total, windows
}

//go:build integration

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// An event that redraws the desk's list while the agent is clicking a
// conversation in it (between the press and the release) must not lose the
// click. The list redraws on every event and every 10 s; when the redraw
// replaced the rows, the browser fired no click at all (the pressed element
// had left the page) and the conversation did not open. The test holds the
// mouse button down on Jane's row until the page has drawn Joe's new message,
// then releases it.
func TestDeskListClickDuringEventInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 3)
	st.setPresence(a, "available")
	jane, joe := "3100000000000051", "3100000000000052"
	st.customerSays(ch, jane, "Where is my parcel?", "")
	convJane := st.conversationOf(a, jane)
	st.customerSays(ch, joe, "Hi there", "")
	convJoe := st.conversationOf(a, joe)

	b := startBrowser(t)
	tb := st.openDesk(b, a, "")
	row := fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, convJane)
	// The desk reads its list once its event stream is open: both rows mean live.
	tb.waitFor("both rows", fmt.Sprintf(`%s === "1|Where is my parcel?|ok" && %s === "1|Hi there|ok"`,
		rowStateJS(convJane), rowStateJS(convJoe)), 30*time.Second)

	x, y := tb.actionPoint(row)
	tb.do("press on Jane's row", chromedp.MouseEvent(chromedp.MouseMoved, x, y),
		chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	st.customerSays(ch, joe, "Are you there?", "")
	tb.waitFor("the list redrawn while the button is held", fmt.Sprintf(`%s === "2|Are you there?|ok"`, rowStateJS(convJoe)), 20*time.Second)
	tb.do("release Jane's row", chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))

	tb.waitFor("Jane's conversation open", fmt.Sprintf(`document.querySelector('%s.selected') !== null &&
		[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "Where is my parcel?")`, row), 15*time.Second)
	b.requireNoProblems()
}

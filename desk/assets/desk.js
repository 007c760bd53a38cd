// The agent desk: sign-in, presence, my conversations (live over SSE), the
// transcript with message statuses, the reply box with the messaging window and
// attachments by URL, close and reopen, transfer (to an agent or a queue, with
// a note), and alerts for new and transferred assignments.
//
// Native ES modules, no build step; this one is the page's entry point:
//   state.js       what the desk knows (one shared object)
//   session.js     sign-in, sign-out, presence, api()
//   events.js      the live event stream (SSE)
//   list.js        the conversation list
//   transcript.js  the selected conversation, its window and customer panel
//   composer.js    the reply box: text and files by URL
//   transfer.js    the transfer dialog and transfers away
//   alerts.js      toasts, notifications, sound
//   reactions.js   reactions on messages and the agent's picker
//   consult.js     consults: invite, the consults bar, consultant's view
//   states.js      hold, end and wrap-up, the offer to accept or decline
// The modules import each other's functions in a cycle (an event redraws the
// list, the list opens a transcript, ...). That is safe because no module runs
// code at load time that uses another: everything below runs once all are loaded.

import { bindSession, resume } from "./session.js";
import { bindList } from "./list.js";
import { bindTranscript } from "./transcript.js";
import { bindComposer } from "./composer.js";
import { bindTransfer } from "./transfer.js";
import { bindAlerts } from "./alerts.js";
import { bindConsult } from "./consult.js";
import { bindStates } from "./states.js";

// A module script runs once the document is parsed.
bindSession();
bindAlerts();
bindList();
bindComposer();
bindTranscript();
bindTransfer();
bindConsult();
bindStates();
resume();

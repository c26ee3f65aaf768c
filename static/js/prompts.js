// The saved-prompt picker of the chat's message box. A static file, so the Content-Security-Policy can keep
// forbidding inline scripts.
//
// Typing "/" at the start of a line or after a space lists the saved prompts (templates/prompts/_picker.html);
// more letters narrow the list (commands that start with them first, then commands and titles that contain them).
// Up and Down move through it, Enter or Tab puts the chosen prompt's text in place of the "/word", Escape closes
// it. The focus never leaves the box: it points at the highlighted option with aria-activedescendant, and a
// status region says how many prompts match, so a screen reader announces both.
"use strict";

(() => {
  const SLASH_WORD = /(^|\s)\/([\w-]*)$/;
  const state = { box: null, start: -1, dismissed: -1, active: -1, announced: "" };

  const listbox = () => document.getElementById("prompt-options");
  const choices = () => {
    const template = document.getElementById("prompt-choices");
    return template ? Array.from(template.content.children) : [];
  };
  const isPickerBox = (element) =>
    element instanceof HTMLTextAreaElement && element.getAttribute("aria-controls") === "prompt-options";
  const options = () => {
    const list = listbox();
    return list ? Array.from(list.querySelectorAll("[role=option]")) : [];
  };
  const isOpen = () => {
    const list = listbox();
    return Boolean(list && !list.hidden);
  };

  // The "/word" right before the caret: where its slash is, and the word typed after it (lower case).
  const slashWord = (box) => {
    if (box.selectionStart !== box.selectionEnd) return null;
    const before = box.value.slice(0, box.selectionStart);
    const match = SLASH_WORD.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, word: match[2].toLowerCase() };
  };

  const matching = (word) => {
    const all = choices();
    const starts = all.filter((choice) => choice.dataset.command.startsWith(word));
    const contains = all.filter(
      (choice) =>
        !choice.dataset.command.startsWith(word) &&
        (choice.dataset.command.includes(word) || choice.dataset.title.toLowerCase().includes(word)),
    );
    return starts.concat(contains);
  };

  const announce = (message) => {
    const status = document.getElementById("prompt-status");
    if (status && message !== state.announced) {
      status.textContent = message;
      state.announced = message;
    }
  };

  const close = () => {
    const list = listbox();
    if (list) {
      list.hidden = true;
      list.replaceChildren();
    }
    if (state.box) state.box.removeAttribute("aria-activedescendant");
    state.start = -1;
    state.active = -1;
  };

  const highlight = (index) => {
    const found = options();
    if (!found.length) return;
    state.active = (index + found.length) % found.length;
    found.forEach((option, position) => option.setAttribute("aria-selected", String(position === state.active)));
    const option = found[state.active];
    state.box.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  };

  const open = (box, found) => {
    const list = listbox();
    const keep = state.active >= 0 ? options()[state.active] : null;
    const keepCommand = keep ? keep.dataset.command : null;
    list.replaceChildren(
      ...found.map((choice, index) => {
        const option = choice.cloneNode(true);
        option.id = `prompt-option-${index + 1}`;
        return option;
      }),
    );
    list.hidden = false;
    state.box = box;
    const again = found.findIndex((choice) => choice.dataset.command === keepCommand);
    highlight(again >= 0 ? again : 0);
    const count = found.length === 1 ? "1 saved prompt matches" : `${found.length} saved prompts match`;
    announce(`${count}. Up and down arrows to choose, Enter to insert, Escape to close.`);
  };

  const update = (box) => {
    const typed = slashWord(box);
    if (!typed || typed.start === state.dismissed) {
      if (!typed) state.dismissed = -1;
      close();
      return;
    }
    state.dismissed = -1;
    state.box = box;
    const found = matching(typed.word);
    if (!found.length) {
      close();
      announce(
        choices().length
          ? `No saved prompt matches /${typed.word}.`
          : "You have no saved prompts yet; the Saved prompts page keeps them.",
      );
      return;
    }
    state.start = typed.start;
    open(box, found);
  };

  const choose = (index) => {
    const option = options()[index];
    const box = state.box;
    if (!option || !box || state.start < 0) return;
    const text = option.dataset.text;
    box.setRangeText(text, state.start, box.selectionStart, "end");
    close();
    announce(`Inserted /${option.dataset.command}.`);
    box.focus();
  };

  document.addEventListener("input", (event) => {
    if (isPickerBox(event.target)) update(event.target);
  });

  // Capture phase: the picker's keys are handled before chat.js's Enter-sends, and go no further.
  document.addEventListener(
    "keydown",
    (event) => {
      if (!isPickerBox(event.target) || !isOpen() || event.isComposing) return;
      const plain = !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey;
      let handled = true;
      if (event.key === "ArrowDown") highlight(state.active + 1);
      else if (event.key === "ArrowUp") highlight(state.active - 1);
      else if ((event.key === "Enter" || event.key === "Tab") && plain) choose(state.active);
      else if (event.key === "Escape") {
        state.dismissed = state.start;
        close();
        announce("Saved prompts closed.");
      } else handled = false;
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );

  // A click chooses too; pressing the mouse on the list must not take the focus from the box first.
  document.addEventListener("mousedown", (event) => {
    if (event.target instanceof Element && event.target.closest("#prompt-options")) event.preventDefault();
  });
  document.addEventListener("click", (event) => {
    const option = event.target instanceof Element && event.target.closest("#prompt-options [role=option]");
    if (option) choose(options().indexOf(option));
  });

  // A "/" typed while the page was still loading this script (the box has autofocus) opens the list now.
  if (isPickerBox(document.activeElement)) update(document.activeElement);

  // Moving the caret away from the "/word" (clicks, Home/End) or leaving the box closes the list.
  document.addEventListener("selectionchange", () => {
    const box = state.box;
    if (box && document.activeElement === box && isOpen() && !slashWord(box)) close();
  });
  document.addEventListener("focusout", (event) => {
    if (isPickerBox(event.target)) close();
  });
})();

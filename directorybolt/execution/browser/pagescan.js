() => {
  const q = s => '"' + String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  const uniq = s => { try { return document.querySelectorAll(s).length === 1; } catch (e) { return false; } };
  const clean = t => (t || '').replace(/\s+/g, ' ').trim().slice(0, 300);
  const CONTROLS = 'input, select, textarea';
  function cssPath(el) {
    const tag = el.tagName.toLowerCase();
    if (el.id && uniq('#' + CSS.escape(el.id))) return '#' + CSS.escape(el.id);
    const name = el.getAttribute('name');
    if (name) {
      let s = `${tag}[name=${q(name)}]`;
      if (uniq(s)) return s;
      if (el.type === 'radio' || el.type === 'checkbox') {
        s += `[value=${q(el.getAttribute('value') || 'on')}]`;
        if (uniq(s)) return s;
      }
    }
    const parts = [];
    for (let node = el; node && node.nodeType === 1 && node !== document.documentElement; node = node.parentElement) {
      if (node !== el && node.id && uniq('#' + CSS.escape(node.id))) { parts.unshift('#' + CSS.escape(node.id)); break; }
      let part = node.tagName.toLowerCase();
      const same = node.parentElement ? Array.from(node.parentElement.children).filter(c => c.tagName === node.tagName) : [];
      if (same.length > 1) part += `:nth-of-type(${same.indexOf(node) + 1})`;
      parts.unshift(part);
    }
    return parts.join(' > ');
  }
  function ownText(label) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll('input, select, textarea, button, option, script, style').forEach(n => n.remove());
    return clean(copy.textContent);
  }
  function preceding(el) {
    let node = el;
    for (let depth = 0; depth < 4 && node; depth++) {
      for (let sib = node.previousSibling; sib; sib = sib.previousSibling) {
        if (sib.nodeType === 3) { const t = clean(sib.textContent); if (t) return t; continue; }
        if (sib.nodeType !== 1 || ['SCRIPT', 'STYLE', 'BR', 'HR'].includes(sib.tagName)) continue;
        if (sib.matches(CONTROLS + ', button') || sib.querySelector(CONTROLS + ', button')) return '';
        if (sib.tagName === 'LABEL' && sib.control && sib.control !== el) return '';
        const t = clean(sib.innerText || sib.textContent);
        if (t) return t.length <= 120 ? t : '';
      }
      node = node.parentElement;
      if (!node || ['FORM', 'BODY', 'FIELDSET'].includes(node.tagName)) return '';
      if (node.querySelectorAll('input:not([type=hidden]), select, textarea').length > 1) return '';
    }
    return '';
  }
  function following(el) {
    // "<input type=checkbox> I agree to the terms": a box's text usually comes after it.
    for (let sib = el.nextSibling; sib; sib = sib.nextSibling) {
      if (sib.nodeType === 1 && (sib.matches(CONTROLS) || sib.querySelector(CONTROLS))) return '';
      const t = clean(sib.textContent);
      if (t) return t;
    }
    return '';
  }
  function placeholderOf(el) {
    // A select's empty first option often is its label ("Select a category").
    if (el.tagName === 'SELECT') {
      const first = el.options[0];
      return first && !first.value.trim() ? clean(first.label || first.text) : '';
    }
    return clean(el.getAttribute('placeholder'));
  }
  const docW = Math.max(document.documentElement.scrollWidth, window.innerWidth);
  function clipped(el) {
    // A zero-height box with overflow hidden (a common honeypot wrapper) hides what it holds.
    for (let n = el.parentElement, i = 0; n && n !== document.body && i < 6; n = n.parentElement, i++) {
      const style = getComputedStyle(n);
      if (style.overflow === 'visible' && style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const r = n.getBoundingClientRect();
      if (r.width < 2 || r.height < 2) return true;
    }
    return false;
  }
  function seen(el) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width >= 2 && r.height >= 2 && !clipped(el);
  }
  function offscreen(el) {
    const r = el.getBoundingClientRect();
    const x = r.left + window.scrollX, y = r.top + window.scrollY;
    return r.width > 0 && (x + r.width <= 0 || y + r.height <= 0 || x >= docW + 50);
  }
  const HONEY = new RegExp('(^|[^a-z])(hp|honeypot|honey|hpot|ohnohoney|trap|nobot|antibot|bot|spam|nospam|antispam|'
    + 'gotcha|botcheck|validation_container)([^a-z]|$)', 'i');
  const HONEY_TEXT = new RegExp('leave (this )?(field )?(blank|empty)|do ?n[o\']?t fill|not for humans|'
    + 'if you are (a )?human|should be left (unchanged|empty|blank)|for validation purposes', 'i');
  function trapSigns(el, label) {
    const signs = [];
    if (el.closest('[aria-hidden="true"]')) signs.push('aria-hidden');
    if (el.closest('[inert]')) signs.push('inert');
    if (el.getAttribute('tabindex') === '-1') signs.push('tabindex=-1');
    if (offscreen(el)) signs.push('off-screen');
    for (let n = el, i = 0; n && i < 4 && n.tagName !== 'FORM'; n = n.parentElement, i++) {
      const ident = [n.getAttribute('name'), n.id, typeof n.className === 'string' ? n.className : ''].join(' ');
      if (HONEY.test(ident.replace(/([a-z])([A-Z])/g, '$1 $2'))) { signs.push('honeypot-name'); break; }
    }
    if (HONEY_TEXT.test(label + ' ' + (el.getAttribute('placeholder') || ''))) signs.push('honeypot-text');
    return signs;
  }
  const forms = Array.from(document.forms);
  const formOf = el => { const f = el.form || el.closest('form'); return f ? forms.indexOf(f) : -1; };
  const controls = Array.from(document.querySelectorAll(CONTROLS)).filter(el => {
    const t = (el.getAttribute('type') || '').toLowerCase();
    return !['hidden', 'submit', 'button', 'reset', 'image'].includes(t);
  }).map(el => {
    const type = el.tagName === 'INPUT' ? (el.type || 'text').toLowerCase() : el.tagName.toLowerCase();
    const labels = el.labels ? Array.from(el.labels) : [];
    const label = clean(labels.map(ownText).join(' '));
    const labelledby = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
      .map(id => document.getElementById(id)).filter(Boolean).map(n => n.textContent).join(' ');
    const check = type === 'checkbox' || type === 'radio';
    const visible = el.type !== 'hidden' && (seen(el) || (check && labels.some(seen)));
    return {
      selector: cssPath(el), form: formOf(el), tag: el.tagName.toLowerCase(), type,
      name: el.getAttribute('name') || '', id: el.id || '', placeholder: placeholderOf(el),
      autocomplete: (el.getAttribute('autocomplete') || '').toLowerCase(), label,
      aria: clean((el.getAttribute('aria-label') || '') + ' ' + labelledby),
      preceding: label ? '' : (check ? following(el) : '') || preceding(el),
      title: clean(el.getAttribute('title')),
      required: el.required || el.getAttribute('aria-required') === 'true', visible,
      disabled: el.disabled, readonly: !!el.readOnly, value: el.value || '', checked: !!el.checked,
      options: el.tagName === 'SELECT' ? Array.from(el.options).map(o => [o.value, clean(o.label || o.text), o.disabled, o.selected]) : [],
      traps: trapSigns(el, label),
    };
  });
  // Links count when they act as buttons inside a form ("Next" as <a href="#step2">).
  const buttons = Array.from(document.querySelectorAll(
    'button, input[type=submit], input[type=button], input[type=reset], input[type=image], [role=button], '
    + 'form a[onclick], form a[href^="#"], form a[href^="javascript:" i], form a.btn, form a.button'
  )).map(el => ({
    selector: cssPath(el), form: formOf(el), tag: el.tagName.toLowerCase(),
    type: el.tagName === 'BUTTON' ? (el.getAttribute('type') || 'submit').toLowerCase()
        : (el.getAttribute('type') || (el.tagName === 'INPUT' ? 'text' : 'button')).toLowerCase(),
    text: clean(el.innerText || el.value || el.getAttribute('aria-label') || el.getAttribute('title') || el.getAttribute('alt')),
    visible: seen(el), disabled: !!el.disabled,
  }));
  const has = s => !!document.querySelector(s);
  const captcha = [];
  // Markup and script addresses, not loaded widgets: a blocked or slow script still counts.
  const KINDS = {
    recaptcha: ['.g-recaptcha', '#g-recaptcha', '.grecaptcha-badge', 'iframe[src*="recaptcha"]',
                'script[src*="recaptcha"]', 'textarea[name="g-recaptcha-response"]'],
    hcaptcha: ['.h-captcha', 'iframe[src*="hcaptcha"]', 'script[src*="hcaptcha"]', 'textarea[name="h-captcha-response"]'],
    turnstile: ['.cf-turnstile', 'iframe[src*="challenges.cloudflare.com"]', 'script[src*="challenges.cloudflare.com"]',
                'input[name="cf-turnstile-response"]'],
  };
  const GLOBALS = {recaptcha: 'grecaptcha', hcaptcha: 'hcaptcha', turnstile: 'turnstile'};
  for (const [kind, sels] of Object.entries(KINDS)) {
    if (has(sels.join(', ')) || window[GLOBALS[kind]]) captcha.push(kind);
  }
  const GENERIC = ['[data-sitekey]', 'img[src*="captcha" i]', 'img[alt*="captcha" i]', '#captcha', '.captcha',
                   'iframe[src*="captcha" i]'];
  if (!captcha.length && has(GENERIC.join(', '))) captcha.push('captcha');
  const mailto = Array.from(document.querySelectorAll('a[href^="mailto:" i]')).filter(seen).length;
  // A submit handler that sends the visitor to a mailto: address: nothing reaches the site.
  const MAILTO_NAV = /(location(\.href)?\s*=|location\.assign\(|window\.open\()\s*[`'"]mailto:/i;
  const handlers = Array.from(document.scripts).filter(sc => !sc.src).map(sc => sc.textContent)
    .concat(forms.map(f => f.getAttribute('onsubmit') || ''));
  const mailtoSubmit = handlers.some(t => MAILTO_NAV.test(t) && /submit/i.test(t));
  const frames = Array.from(document.querySelectorAll('iframe')).filter(seen).map(f => {
    const r = f.getBoundingClientRect();
    return {src: f.src || '', width: Math.round(r.width), height: Math.round(r.height)};
  });
  return {
    url: location.href, controls, buttons, captcha, mailto, frames, mailtoSubmit,
    forms: forms.map((f, i) => ({index: i, selector: cssPath(f), action: f.getAttribute('action') || ''})),
    text: clean((document.body && document.body.innerText || '').slice(0, 4000)),
  };
}

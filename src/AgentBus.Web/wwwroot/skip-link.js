// "Skip to content" moves the keyboard focus to the page's main content. Blazor's router takes
// in-page links over and only scrolls, so this handles the skip link first (capture phase).
document.addEventListener('click', event => {
    if (!(event.target instanceof Element) || !event.target.closest('a.skip-link')) {
        return;
    }
    event.preventDefault();
    event.stopPropagation();
    document.getElementById('main')?.focus();
}, true);

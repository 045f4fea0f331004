// Stroke icons (24×24), drawn with currentColor by style.css; decorative, so labels live on the buttons.
export const ICONS = {
  home: 'M3 11 12 3l9 8M5 9.5V21h5v-6h4v6h5V9.5',
  search: ['M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14z', 'M16.5 16.5 21 21'],
  bell: ['M6 16v-5a6 6 0 0 1 12 0v5l2 2H4z', 'M10 20a2 2 0 0 0 4 0'],
  user: ['M12 4a4 4 0 1 0 0 8a4 4 0 1 0 0-8z', 'M4 21c0-4 4-6 8-6s8 2 8 6'],
  pen: ['M4 20h4L19 9l-4-4L4 16z', 'M14 6l4 4'],
  logout: ['M10 4H5v16h5', 'M15 8l4 4-4 4', 'M9 12h10'],
  reply: 'M4 5h16v11H9l-5 4z',
  repost: ['M4 11V8h13', 'M14 5l3 3-3 3', 'M20 13v3H7', 'M10 19l-3-3 3-3'],
  quote: ['M5 7h5v5c0 3-2 5-4 5', 'M14 7h5v5c0 3-2 5-4 5'],
  heart: 'M12 20s-7.5-4.6-7.5-10.2A4.3 4.3 0 0 1 12 7.2a4.3 4.3 0 0 1 7.5 2.6C19.5 15.4 12 20 12 20z',
  smile: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M8.5 14a4 4 0 0 0 7 0', 'M9 9.5h.01', 'M15 9.5h.01'],
  trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13'],
  image: ['M4 5h16v14H4z', 'M4 16l5-5 4 4 3-3 4 4', 'M15 9h.01'],
  close: ['M6 6l12 12', 'M18 6 6 18'],
  hash: ['M10 4 8 20', 'M16 4l-2 16', 'M5 9h15', 'M4 15h15'],
  back: ['M11 5l-7 7 7 7', 'M4 12h16'],
  login: ['M14 4h5v16h-5', 'M9 8l4 4-4 4', 'M3 12h10'],
  // issue 24 (organizing)
  bookmark: 'M6 3h12v18l-6-4-6 4z',
  pin: ['M9 3h6l-1 6 4 4H6l4-4z', 'M12 13v8'],
  list: ['M8 6h12', 'M8 12h12', 'M8 18h12', 'M4 6h.01', 'M4 12h.01', 'M4 18h.01'],
};

// The remembered window place: a damaged file, a display that is gone, a size larger than any
// display. Cases worked out by hand from the rule: the top edge must overlap a display by 64 px.
import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW, placeWindow } from './windowState.ts';

const laptop = { x: 0, y: 0, width: 1440, height: 900 };
const monitorRight = { x: 1440, y: 0, width: 2560, height: 1440 };

describe('placeWindow', () => {
  it('uses what was saved when it fits on a display', () => {
    expect(placeWindow({ x: 100, y: 50, width: 1000, height: 700, maximized: true }, [laptop])).toEqual({ x: 100, y: 50, width: 1000, height: 700, maximized: true });
    expect(placeWindow({ x: 2000, y: 100, width: 1600, height: 1000 }, [laptop, monitorRight])).toEqual({ x: 2000, y: 100, width: 1600, height: 1000 });
  });

  it('drops the place when its display is gone, keeping a size that fits', () => {
    // Saved on the right-hand monitor, which is unplugged now.
    expect(placeWindow({ x: 2000, y: 100, width: 1600, height: 1000 }, [laptop])).toEqual({ width: 1440, height: 900 });
    // Only 40 px of the top edge on screen: not enough to grab.
    expect(placeWindow({ x: 1400, y: 10, width: 800, height: 600 }, [laptop])).toEqual({ width: 800, height: 600 });
    // 64 px on screen: enough.
    expect(placeWindow({ x: 1376, y: 10, width: 800, height: 600 }, [laptop])).toEqual({ x: 1376, y: 10, width: 800, height: 600 });
    // Above the top of every display.
    expect(placeWindow({ x: 100, y: -300, width: 800, height: 600 }, [laptop])).toEqual({ width: 800, height: 600 });
  });

  it('falls back to the default for damaged or hostile values', () => {
    for (const saved of [null, 'text', [], {}, { width: 'big', height: 700 }, { width: 100, height: 100 }, { width: Infinity, height: NaN }]) {
      const state = placeWindow(saved, [laptop, monitorRight]);
      expect(state.width, JSON.stringify(saved)).toBeGreaterThanOrEqual(640);
      expect(state.x).toBeUndefined();
    }
    expect(placeWindow({}, [monitorRight])).toEqual(DEFAULT_WINDOW);
    expect(placeWindow({ width: 5000, height: 5000, x: 'a', y: 0, maximized: 'yes' }, [laptop])).toEqual({ width: 1440, height: 900 });
  });
});

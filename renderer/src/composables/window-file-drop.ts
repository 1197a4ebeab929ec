/**
 * A file dropped anywhere on the window, in the browser host only (Electron's shell handles drops
 * itself). Open session… and Open trace… each take the files whose names they accept; `dropping`
 * is true while a file is dragged over the window, for the button's highlight.
 */
import { onBeforeUnmount, onMounted, ref, type Ref } from 'vue';
import { hostKind } from '../api/host-kind';

export function useWindowFileDrop(accepts: (name: string) => boolean, open: (file: File) => void): Ref<boolean> {
  const dropping = ref(false);
  let browserHost = false;

  function onDragOver(event: DragEvent): void {
    if (!browserHost || !event.dataTransfer?.types.includes('Files')) return;
    event.preventDefault();
    dropping.value = true;
  }
  function onDrop(event: DragEvent): void {
    dropping.value = false;
    if (!browserHost) return;
    const file = event.dataTransfer?.files?.[0];
    if (!file || !accepts(file.name)) return;
    event.preventDefault();
    open(file);
  }
  function onDragLeave(): void {
    dropping.value = false;
  }

  onMounted(() => {
    void hostKind().then((kind) => (browserHost = kind === 'browser'));
    window.addEventListener('dragover', onDragOver);
    window.addEventListener('drop', onDrop);
    window.addEventListener('dragleave', onDragLeave);
  });
  onBeforeUnmount(() => {
    window.removeEventListener('dragover', onDragOver);
    window.removeEventListener('drop', onDrop);
    window.removeEventListener('dragleave', onDragLeave);
  });
  return dropping;
}

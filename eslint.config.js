export { default } from '@phalanx/eslint-config';
